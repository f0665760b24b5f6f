import { useId, useMemo, useState, type ClipboardEvent, type KeyboardEvent } from 'react';
import type { AddressValue } from '../api/types';
import { parseAddressList, type Recipient } from './addresses';
import { suggestPeople } from './recent';

interface Props {
  label: string;
  value: Recipient[];
  onChange(next: Recipient[]): void;
  /** What is typed but not yet a chip (the form commits it on send). */
  text: string;
  onText(text: string): void;
  autoFocus?: boolean;
}

/**
 * Recipients as chips, with completion from recent correspondents (an ARIA combobox:
 * arrows choose, Enter or Tab takes, Esc closes the list). Invalid addresses stay
 * visible, marked, and are never sent.
 */
export function AddressInput({ label, value, onChange, text, onText, autoFocus }: Props) {
  const id = useId();
  const [open, setOpen] = useState(false);
  const [active, setActive] = useState(0);
  const taken = useMemo(() => new Set(value.map((a) => a.address.toLowerCase())), [value]);
  const suggestions = useMemo(() => (open ? suggestPeople(text, taken) : []), [open, text, taken]);
  const listId = `${id}-list`;
  const invalid = value.filter((r) => !r.valid);

  const commit = (raw: string) => {
    const parsed = parseAddressList(raw).filter((r) => !taken.has(r.address.toLowerCase()));
    if (parsed.length) onChange([...value, ...parsed]);
    onText('');
    setOpen(false);
  };
  const pick = (p: AddressValue) => {
    onChange([...value, { ...p, valid: true }]);
    onText('');
    setOpen(false);
  };

  const onKeyDown = (e: KeyboardEvent<HTMLInputElement>) => {
    const showing = open && suggestions.length > 0;
    if (e.key === 'ArrowDown' && showing) {
      e.preventDefault();
      setActive((i) => (i + 1) % suggestions.length);
    } else if (e.key === 'ArrowUp' && showing) {
      e.preventDefault();
      setActive((i) => (i - 1 + suggestions.length) % suggestions.length);
    } else if ((e.key === 'Enter' || e.key === 'Tab') && showing) {
      e.preventDefault();
      pick(suggestions[Math.min(active, suggestions.length - 1)]);
    } else if ((e.key === 'Enter' || e.key === ',' || e.key === ';') && text.trim()) {
      e.preventDefault();
      commit(text);
    } else if (e.key === 'Backspace' && !text && value.length) {
      onChange(value.slice(0, -1));
    } else if (e.key === 'Escape' && showing) {
      e.preventDefault(); // the list closes, not the compose
      setOpen(false);
    }
  };

  const onPaste = (e: ClipboardEvent<HTMLInputElement>) => {
    const pasted = e.clipboardData.getData('text');
    if (/[,;\n]/.test(pasted)) {
      e.preventDefault();
      commit(text + pasted);
    }
  };

  return (
    <div className="address-field">
      <label htmlFor={id}>{label}</label>
      <div className={`chips${invalid.length ? ' has-invalid' : ''}`}>
        {value.map((r, i) => (
          <span key={`${r.address}-${i}`} className={`chip${r.valid ? '' : ' invalid'}`} title={r.valid ? r.address : `${r.address} is not a valid address`}>
            {r.name ? `${r.name} <${r.address}>` : r.address}
            <button type="button" className="chip-remove" aria-label={`Remove ${r.address}`} onClick={() => onChange(value.filter((_, j) => j !== i))}>
              ×
            </button>
          </span>
        ))}
        <input
          id={id}
          type="text"
          role="combobox"
          aria-expanded={open && suggestions.length > 0}
          aria-controls={listId}
          aria-autocomplete="list"
          aria-activedescendant={open && suggestions.length ? `${listId}-${Math.min(active, suggestions.length - 1)}` : undefined}
          aria-invalid={invalid.length > 0}
          aria-describedby={invalid.length ? `${id}-error` : undefined}
          autoComplete="off"
          autoFocus={autoFocus}
          value={text}
          onChange={(e) => {
            onText(e.target.value);
            setOpen(true);
            setActive(0);
          }}
          onKeyDown={onKeyDown}
          onPaste={onPaste}
          onBlur={() => text.trim() && commit(text)}
        />
      </div>
      {open && suggestions.length > 0 && (
        <ul id={listId} role="listbox" className="suggestions" aria-label={`Suggestions for ${label}`}>
          {suggestions.map((p, i) => (
            <li
              key={p.address}
              id={`${listId}-${i}`}
              role="option"
              aria-selected={i === active}
              className={i === active ? 'active' : undefined}
              onMouseDown={(e) => {
                e.preventDefault(); // keep focus in the input
                pick(p);
              }}
            >
              {p.name ? (
                <>
                  <strong>{p.name}</strong> <span className="muted">{p.address}</span>
                </>
              ) : (
                p.address
              )}
            </li>
          ))}
        </ul>
      )}
      {invalid.length > 0 && (
        <p id={`${id}-error`} className="field-error">
          Not a valid address: {invalid.map((r) => r.address).join(', ')}
        </p>
      )}
    </div>
  );
}
