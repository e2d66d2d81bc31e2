/**
 * The live grants board (`/`, docs/web.md): the REST snapshot of the grants matching the
 * filters in the address, then their filtered live view (`grants?<filter>`, CONTRACT v1.1)
 * through the SDK, sorted by closing date, changed rows highlighted, rows leaving the view
 * removed. Test hooks: `data-state` on the indicator, `data-id`/`data-version` on rows,
 * `document.body.dataset.ready` once the current view's snapshot is shown.
 */
import './styles.css';
import type { LiveView } from '../client/index.js';
import { fillForm, filterFromAddress, filterFromForm } from './filters.js';
import { Indicator } from './indicator.js';
import { pageClient, showNoToken } from './session.js';
import { SortedGrants } from './sorted.js';
import { byClosingDate, GrantTable } from './table.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

function main(): void {
  const connection = $<HTMLElement>('connection');
  const form = $<HTMLFormElement>('filters');
  const error = $<HTMLElement>('filter-error');
  const table = new GrantTable({
    body: $<HTMLTableElement>('board').tBodies[0]!,
    count: $('count'),
    page: $('page'),
    prev: $<HTMLButtonElement>('prev'),
    next: $<HTMLButtonElement>('next'),
  });
  const client = pageClient('board');
  if (!client) return showNoToken(connection);
  const indicator = new Indicator(connection, client);
  client.on('error', (err) => {
    if (err.code === 'token_expired' || err.code === 'token_rejected' || err.code === 'token_unavailable') indicator.stopped('the token expired: open the page with a new one');
  });

  let view: LiveView | undefined;
  const open = (query: string) => {
    view?.close();
    document.body.dataset.ready = 'false';
    const current = client.view(query);
    const sorted = new SortedGrants(byClosingDate);
    view = current;
    table.show(() => sorted.items);
    current.on('ready', () => {
      sorted.reset(current.items);
      indicator.touched();
      table.schedule();
      document.body.dataset.ready = 'true';
      document.body.dataset.query = query;
    });
    current.on('change', (change) => {
      if (change.op === 'reload') sorted.reset(current.items);
      else sorted.apply(change);
      indicator.touched();
      if (change.id && change.grant) table.changed(change.id);
      table.schedule();
    });
  };

  const initial = filterFromAddress(location.search);
  error.textContent = initial.error ? `The address's filter was ignored: ${initial.error}` : '';
  fillForm(form, initial.query);
  open(initial.query);

  let typing: ReturnType<typeof setTimeout> | undefined;
  const apply = () => {
    const next = filterFromForm(form);
    if (next.error) {
      error.textContent = next.error;
      return;
    }
    error.textContent = '';
    history.replaceState(history.state, '', `${location.pathname}${next.query ? `?${next.query}` : ''}${location.hash}`);
    open(next.query);
  };
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    apply();
  });
  form.addEventListener('change', apply);
  form.addEventListener('input', (e) => {
    if ((e.target as HTMLInputElement).name !== 'q') return;
    clearTimeout(typing);
    typing = setTimeout(apply, 300);
  });
  void client.connect();
}

main();
