import { useState, type DragEvent, type FormEvent } from 'react';
import { api } from '../api/client';
import type { Mailbox } from '../api/types';
import { mailPath, navigate } from '../app/router';
import { ConfirmDialog } from '../ui/Dialog';
import { Icon } from '../ui/Icon';
import { describeError, FieldError } from '../ui/ErrorNotice';
import { toast } from '../ui/toasts';
import { boxKey, sortMailboxes } from './format';
import { DRAG_TYPE } from './MessageList';


interface Props {
  mailboxes: Mailbox[];
  activeKey: string | null;
  onDropMessages(ids: string[], mailboxId: string): void;
  onChanged(): void;
  onNavigate(): void;
}

/** Folders with unread counts; each is a drop target for dragged messages; the user's own can be renamed and deleted. */
export function FolderList({ mailboxes, activeKey, onDropMessages, onChanged, onNavigate }: Props) {
  const [dropTarget, setDropTarget] = useState<string | null>(null);
  const [renaming, setRenaming] = useState<string | null>(null);
  const [deleting, setDeleting] = useState<Mailbox | null>(null);

  const dragOver = (e: DragEvent, m: Mailbox) => {
    if (!e.dataTransfer.types.includes(DRAG_TYPE) || m.specialUse === 'drafts') return;
    e.preventDefault();
    e.dataTransfer.dropEffect = 'move';
    setDropTarget(m.id);
  };
  const drop = (e: DragEvent, m: Mailbox) => {
    e.preventDefault();
    setDropTarget(null);
    try {
      const ids = JSON.parse(e.dataTransfer.getData(DRAG_TYPE)) as string[];
      if (Array.isArray(ids) && ids.length) onDropMessages(ids, m.id);
    } catch {
      // not our drag
    }
  };

  return (
    <div className="folders">
      <h2 className="visually-hidden">Folders</h2>
      <ul>
        {sortMailboxes(mailboxes).map((m) => {
          const key = boxKey(m);
          const href = mailPath(key);
          return (
            <li key={m.id} className={`folder${key === activeKey ? ' active' : ''}${dropTarget === m.id ? ' drop' : ''}`} onDragOver={(e) => dragOver(e, m)} onDragLeave={() => setDropTarget(null)} onDrop={(e) => drop(e, m)} data-testid={`folder-${m.specialUse ?? m.name}`}>
              {renaming === m.id ? (
                <RenameForm mailbox={m} onDone={() => (setRenaming(null), onChanged())} />
              ) : (
                <>
                  <a
                    href={href}
                    aria-current={key === activeKey ? 'page' : undefined}
                    onClick={(e) => {
                      if (e.metaKey || e.ctrlKey || e.shiftKey) return;
                      e.preventDefault();
                      navigate(href);
                      onNavigate();
                    }}
                  >
                    <Icon name={m.specialUse ?? 'folder'} />
                    <span className="folder-name">{m.name}</span>
                    {m.unread > 0 && (
                      <span className="count" aria-label={`${m.unread} unread`}>
                        {m.unread > 9999 ? '9999+' : m.unread}
                      </span>
                    )}
                  </a>
                  {!m.specialUse && (
                    <span className="folder-tools">
                      <button type="button" className="icon-button small" aria-label={`Rename folder ${m.name}`} title="Rename" onClick={() => setRenaming(m.id)}>
                        ✎
                      </button>
                      <button type="button" className="icon-button small" aria-label={`Delete folder ${m.name}`} title="Delete" onClick={() => setDeleting(m)}>
                        ×
                      </button>
                    </span>
                  )}
                </>
              )}
            </li>
          );
        })}
      </ul>
      <NewFolderForm onCreated={onChanged} />
      {deleting && <DeleteFolder mailbox={deleting} onClose={() => setDeleting(null)} onDeleted={() => (setDeleting(null), onChanged(), activeKey === deleting.id && navigate(mailPath('inbox')))} />}
    </div>
  );
}

function RenameForm({ mailbox, onDone }: { mailbox: Mailbox; onDone(): void }) {
  const [name, setName] = useState(mailbox.name);
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (name.trim() === mailbox.name) return onDone();
    try {
      await api.renameMailbox(mailbox.id, name.trim());
      onDone();
    } catch (err) {
      setError(describeError(err));
    }
  };
  return (
    <form className="folder-form" onSubmit={submit}>
      <input aria-label={`New name for ${mailbox.name}`} value={name} onChange={(e) => setName(e.target.value)} autoFocus onKeyDown={(e) => e.key === 'Escape' && (e.stopPropagation(), onDone())} required maxLength={200} />
      <button type="submit" className="small">
        Save
      </button>
      <FieldError error={error} />
    </form>
  );
}

function NewFolderForm({ onCreated }: { onCreated(): void }) {
  const [open, setOpen] = useState(false);
  const [name, setName] = useState('');
  const [error, setError] = useState<string | null>(null);
  if (!open) {
    return (
      <button type="button" className="link-button new-folder" onClick={() => setOpen(true)}>
        + New folder
      </button>
    );
  }
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      await api.createMailbox(name.trim());
      setName('');
      setOpen(false);
      onCreated();
    } catch (err) {
      setError(describeError(err));
    }
  };
  return (
    <form className="folder-form" onSubmit={submit}>
      <input aria-label="New folder name" placeholder="Folder name" value={name} onChange={(e) => setName(e.target.value)} autoFocus required maxLength={200} onKeyDown={(e) => e.key === 'Escape' && (e.stopPropagation(), setOpen(false))} />
      <button type="submit" className="small">
        Create
      </button>
      <FieldError error={error} />
    </form>
  );
}

function DeleteFolder({ mailbox, onClose, onDeleted }: { mailbox: Mailbox; onClose(): void; onDeleted(): void }) {
  const [error, setError] = useState<string | null>(null);
  const remove = async () => {
    try {
      await api.deleteMailbox(mailbox.id, mailbox.total > 0);
      toast(`Folder “${mailbox.name}” deleted${mailbox.total ? `; its ${mailbox.total} messages are in Trash` : ''}.`);
      onDeleted();
    } catch (err) {
      setError(describeError(err));
    }
  };
  return (
    <ConfirmDialog title={`Delete folder “${mailbox.name}”?`} action="Delete folder" onConfirm={() => void remove()} onClose={onClose} error={error}>
      <p>{mailbox.total ? `Its ${mailbox.total} message${mailbox.total === 1 ? '' : 's'} will be moved to Trash.` : 'The folder is empty.'}</p>
    </ConfirmDialog>
  );
}
