/**
 * How a field rule reports a fault. Every rule takes the record's `fail` and calls it with
 * the field's path and a message instead of throwing, so one record collects all of its
 * faults (`RecordError[]`); `fail` returns null so a rule can `return fail(...)` in place of
 * a value.
 */
export type Fail = (path: string, message: string) => null;
