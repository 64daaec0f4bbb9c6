// Tables and pagers shared by the views. Columns: {key, label, cell(row) -> node|text,
// sortable?: true (the server sorts by it), cls?}. Every column has a header (also the action column).
import { t } from './i18n.js';
import { h } from './dom.js';

export function table({ id, columns, rows, empty, rowAttrs, sort, onSort, caption }) {
  const head = h(
    'tr',
    {},
    columns.map((c) => {
      const active = sort && sort.key === c.key;
      const aria = active ? (sort.dir > 0 ? 'ascending' : 'descending') : null;
      const label =
        c.sortable && onSort
          ? h(
              'button',
              { type: 'button', class: 'sort', 'data-sort': c.key, onclick: () => onSort(c.key) },
              c.label,
              active ? (sort.dir > 0 ? ' ▲' : ' ▼') : '',
            )
          : c.label;
      return h('th', { scope: 'col', 'aria-sort': aria }, label);
    }),
  );
  const body = rows.length
    ? rows.map((r) =>
        h(
          'tr',
          rowAttrs ? rowAttrs(r) : {},
          columns.map((c) => h('td', { 'data-label': c.label, class: c.cls || null }, c.cell(r))),
        ),
      )
    : h('tr', {}, h('td', { colspan: columns.length, class: 'muted' }, empty || t('table.nothing_here')));
  return h(
    'table',
    { class: 'responsive', id },
    caption ? h('caption', { class: 'sr-only' }, caption) : null,
    h('thead', {}, head),
    h('tbody', {}, body),
  );
}

// Cursor pager: state.cursors is the stack of cursors of the pages seen.
export function pager(state, nextCursor, redraw) {
  return h(
    'div',
    { class: 'pager' },
    h(
      'button',
      {
        type: 'button',
        disabled: state.cursors.length <= 1,
        onclick: () => {
          state.cursors.pop();
          redraw();
        },
      },
      t('table.newer'),
    ),
    h(
      'button',
      {
        type: 'button',
        disabled: !nextCursor,
        onclick: () => {
          state.cursors.push(nextCursor);
          redraw();
        },
      },
      t('table.older'),
    ),
  );
}

// CSV made in the page from rows already fetched; a cell that a spreadsheet would run as
// a formula (= + - @, tab, CR) is neutralised with a leading apostrophe.
export function csvCell(v) {
  let s = v === null || v === undefined ? '' : String(v);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv(header, rows) {
  return [header, ...rows].map((r) => r.map(csvCell).join(',')).join('\r\n') + '\r\n';
}
