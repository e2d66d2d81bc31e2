/** How the pages print amounts (AUD) and dates (en-AU). */
const aud = new Intl.NumberFormat('en-AU', { style: 'currency', currency: 'AUD', maximumFractionDigits: 0 });
const day = new Intl.DateTimeFormat('en-AU', { day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' });
const count = new Intl.NumberFormat('en-AU');
const clock = new Intl.DateTimeFormat('en-AU', { hour: '2-digit', minute: '2-digit', second: '2-digit' });

export function formatAmount(value: number | null): string {
  return value === null ? '–' : aud.format(value);
}

/** `YYYY-MM-DD` (a calendar date, no time zone) as `31 Mar 2026`. */
export function formatDate(value: string | null): string {
  return value === null ? '–' : day.format(new Date(`${value}T00:00:00Z`));
}

export function formatTime(at: Date): string {
  return clock.format(at);
}

export function formatCount(n: number): string {
  return count.format(n);
}
