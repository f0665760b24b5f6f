import { Dialog } from './Dialog';

export const SHORTCUTS: Array<[string, string]> = [
  ['j / k', 'Next / previous message'],
  ['o or Enter', 'Open the message'],
  ['r', 'Reply'],
  ['a', 'Reply all'],
  ['f', 'Forward'],
  ['c', 'Compose a new message'],
  ['e or #', 'Delete (move to Trash)'],
  ['s', 'Flag / unflag'],
  ['u', 'Mark read / unread'],
  ['x', 'Select the message'],
  ['/', 'Search'],
  ['?', 'Show this help'],
  ['Esc', 'Close, or back to the list'],
];

export function ShortcutHelp({ onClose }: { onClose(): void }) {
  return (
    <Dialog title="Keyboard shortcuts" onClose={onClose} className="help">
      <table className="shortcuts">
        <tbody>
          {SHORTCUTS.map(([keys, what]) => (
            <tr key={keys}>
              <th scope="row">
                {keys.split(/( \/ | or )/).map((k, i) => (k === ' / ' || k === ' or ' ? <span key={i}>{k}</span> : <kbd key={i}>{k}</kbd>))}
              </th>
              <td>{what}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </Dialog>
  );
}
