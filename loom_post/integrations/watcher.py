"""The machinery behind `loom-post watch`: notice modules a build writes, wait until
each one is complete, then run the one pipeline (optimize_one) on it.

What is watched. Each configured glob ("target/wasm32-*/release/*.wasm") is split
into its fixed prefix ("target") and the rest; the prefix directory is watched,
recursively when the rest spans directories. With DIRs on the command line each
DIR is watched recursively for any *.wasm (a symlinked directory is followed).
Watching the project root recursively instead would put an inotify watch on every
directory of .git, src and node_modules; watching only the prefix keeps the watch
count to the build tree.

Surviving `cargo clean`. A watch dies with its directory. Every tick (0.1 s) the
watcher stats each prefix directory and re-arms it when it has (re)appeared, its
inode changed, its emitter stopped, or a delete event named it; re-arming is
followed by a scan of the matching files, so modules written before the new
watch existed are not missed. The same scan also runs every few seconds as a
safety net for events inotify cannot deliver (a subdirectory whose watch could not
be added, a queue overflow). Directories that do not exist yet are waited for.

When a module is complete. Events only mark a path as pending. A pending module
is processed when
  * no event has named it for `debounce` seconds,
  * under inotify, it is not open for writing (an IN_MODIFY without the matching
    IN_CLOSE_WRITE; trusted for up to max(3 s, 10 x debounce) of silence, in case
    the close is never seen; linkers that write a temp file and rename it into
    place are complete at the rename),
  * its (device, inode, size, mtime) is the same at two looks `debounce` apart,
  * and it parses as a module. A file that does not parse is reported only when
    it is still unchanged `grace` seconds later (a writer that pauses is not a
    broken module); garbage is reported once, and watching goes on.

Its own writes. After processing, the watcher re-reads the file and, if it holds
exactly the bytes the pipeline left there, remembers its (device, inode, size,
mtime) signature. Events whose file has a remembered signature are dropped: the
rename of our own temp file, the same inode under cargo's other hard-linked name,
a rescan finding the module unchanged. `.loom-post-*` temp files and hidden files
never match.
If someone else rewrote the file meanwhile, the bytes differ and it is processed.

Observers. The platform observer (inotify on Linux) is used unless `polling` is
asked for; if it cannot be created or cannot add a watch (OSError: the inotify
instance or watch limit), the watcher says so in one line and switches to
watchdog's PollingObserver. All processing and printing happen on the calling
thread; the observer thread only queues events.
"""

from __future__ import annotations

import collections
import glob
import os
import queue
import stat
import time

from loom_post.budget.config import glob_regex
from loom_post.budget.globs import Matcher, split
from loom_post.errors import InputError
from loom_post.fileio import load_module, read_bytes
from loom_post.postlink_component import is_component, load_component

TICK = 0.1              # seconds between looks at the pending modules
RESCAN_EVERY = 3.0      # seconds between safety-net scans of the watched globs
POLL_INTERVAL = 0.5     # PollingObserver snapshot interval
REMEMBERED = 4096       # signatures of handled files kept
SKIP_DIRS = {"incremental"}  # cargo's incremental caches: many files, never a module


def _magic(part):
    return any(c in part for c in "*?[{")


class Target:
    """One directory to watch: `path` (absolute), `recursive`, `label` for humans."""

    def __init__(self, path, recursive, label):
        self.path = os.path.abspath(path)
        self.recursive = recursive
        self.label = label
        self.watch = None        # watchdog ObservedWatch while armed
        self.ident = None        # (st_dev, st_ino) of the directory armed
        self.dirty = False       # a delete event named this directory

    def __repr__(self):
        return f"Target({self.path!r}, recursive={self.recursive})"


class Selection:
    """Which directories to watch and which files in them are modules."""

    def __init__(self, config, dirs=None):
        self.config = config
        self.dirs = [os.path.abspath(d) for d in dirs or ()]
        self.patterns = []       # (absolute pattern, regex over absolute '/' paths)
        self.matcher = Matcher(config.paths)   # for the `!` excludes
        targets = []
        if self.dirs:
            for d in self.dirs:
                targets.append(Target(d, True, d))
        else:
            root = os.path.abspath(config.root)
            for pattern in split(config.paths)[0]:  # `!` excludes: see matches()
                full = os.path.normpath(os.path.join(root, pattern))
                self.patterns.append((full, glob_regex(full.replace(os.sep, "/"))))
                parts = full.split(os.sep)
                fixed = 0
                while fixed < len(parts) and not _magic(parts[fixed]):
                    fixed += 1
                if fixed == len(parts):         # a literal file name
                    targets.append(Target(os.path.dirname(full), False, pattern))
                    continue
                rest = parts[fixed:]
                prefix = os.sep.join(parts[:fixed]) or os.sep
                recursive = len(rest) > 1 or any("**" in p for p in rest)
                targets.append(Target(prefix, recursive, pattern))
        self.targets = _dedupe(targets)

    def matches(self, path):
        path = os.path.abspath(path)
        name = os.path.basename(path)
        if name.startswith("."):             # .loom-post-*.tmp, editors' swap files
            return False
        if self.dirs:
            return name.endswith(".wasm") and any(
                path.startswith(d.rstrip(os.sep) + os.sep) for d in self.dirs)
        slashed = path.replace(os.sep, "/")
        return any(rx.match(slashed) for _, rx in self.patterns) and \
            not self.matcher.excluded(self.config.module_key(path))

    def scan(self):
        """Every module that exists now."""
        found = []
        if self.dirs:
            for d in self.dirs:
                for top, subdirs, files in os.walk(d):
                    subdirs[:] = [s for s in subdirs
                                  if not s.startswith(".") and s not in SKIP_DIRS]
                    found.extend(os.path.join(top, f) for f in files
                                 if self.matches(os.path.join(top, f)))
        else:
            for full, _ in self.patterns:
                found.extend(p for p in glob.glob(full, recursive=True) if self.matches(p))
        return sorted(set(found))


def _dedupe(targets):
    """Drop targets inside a recursive one, merge duplicates (recursive wins)."""
    by_path = {}
    for t in targets:
        old = by_path.get(t.path)
        if old is None or (t.recursive and not old.recursive):
            by_path[t.path] = t
    out = []
    for t in by_path.values():
        inside = any(o is not t and o.recursive and
                     t.path.startswith(o.path.rstrip(os.sep) + os.sep)
                     for o in by_path.values())
        if not inside:
            out.append(t)
    return sorted(out, key=lambda t: t.path)


def signature(path):
    """(dev, inode, size, mtime_ns) of a regular file, or None."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class _Pending:
    __slots__ = ("last_event", "writing", "look", "look_at", "bad", "bad_since")

    def __init__(self, now):
        self.last_event = now
        self.writing = False
        self.look = None         # signature at the first look
        self.look_at = 0.0
        self.bad = None          # signature that did not parse
        self.bad_since = 0.0


def _observer_name(observer):
    name = type(observer).__name__
    return {"InotifyObserver": "inotify", "PollingObserver": "polling",
            "FSEventsObserver": "fsevents", "KqueueObserver": "kqueue",
            "WindowsApiObserver": "windows"}.get(name, name)


class ModuleWatcher:
    """Watch `selection`'s directories and call `process(path, data)` for every
    module once it is complete. `process` returns the bytes it left at `path`
    (None when it cannot tell) so the watcher can recognise its own writes."""

    def __init__(self, selection, process, report_error, debounce=0.3, polling=False,
                 notice=None, rescan=RESCAN_EVERY, reload=None):
        from watchdog.events import FileSystemEventHandler

        self.selection = selection
        self.process = process
        self.report_error = report_error
        self.debounce = max(0.0, float(debounce))
        self.grace = max(1.0, 4 * self.debounce)
        self.write_timeout = max(3.0, 10 * self.debounce)
        self.polling = polling
        self.notice = notice or (lambda line: None)
        self.events = queue.Queue()
        self.pending = {}
        self.handled = collections.OrderedDict()
        self.observer = None
        self.mode = None
        self.rescan = rescan     # seconds between safety-net scans; None: only on (re)arm
        self.scan_due = 0.0
        self.reload = reload     # () -> a new Selection when the configuration changed

        events = self.events

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event):
                dest = getattr(event, "dest_path", "") or ""
                events.put((event.event_type, event.is_directory,
                            os.fsdecode(event.src_path), os.fsdecode(dest)))

        self.handler = Handler()

    # -- observers -----------------------------------------------------------

    def _event_filter(self):
        from watchdog import events as ev
        return [ev.FileCreatedEvent, ev.FileModifiedEvent, ev.FileMovedEvent,
                ev.FileClosedEvent, ev.FileDeletedEvent, ev.DirCreatedEvent,
                ev.DirDeletedEvent, ev.DirMovedEvent]

    def _start_observer(self):
        from watchdog.observers import Observer
        from watchdog.observers.polling import PollingObserver
        if not self.polling:
            try:
                observer = Observer()
                observer.start()
                self.observer, self.mode = observer, _observer_name(observer)
                return
            except OSError as e:
                self._fall_back_notice(e)
        observer = PollingObserver(timeout=POLL_INTERVAL)
        observer.start()
        self.observer, self.mode = observer, "polling"

    def _fall_back_notice(self, e):
        self.polling = True
        self.notice(f"loom-post: watch: cannot use inotify ({e.strerror or e}); "
                    f"falling back to polling")

    def _fall_back(self, e):
        """The native observer failed on a watch: switch every target to polling."""
        self._fall_back_notice(e)
        self._stop_observer()
        for t in self.selection.targets:
            t.watch = t.ident = None
        self._start_observer()

    def _stop_observer(self):
        if self.observer is None:
            return
        try:
            self.observer.stop()
            self.observer.join(timeout=5)
        except Exception:       # a dead emitter must not stop us from stopping
            pass
        self.observer = None

    def _alive(self, watch):
        for emitter in list(self.observer.emitters):
            if emitter.watch == watch:
                return emitter.is_alive()
        return False

    def _unarm(self, target):
        if target.watch is not None:
            try:
                self.observer.unschedule(target.watch)
            except (KeyError, RuntimeError):
                pass
        target.watch = target.ident = None

    def _arm(self):
        """(Re)arm every target whose directory exists and is not watched as it is."""
        for target in self.selection.targets:
            try:
                st = os.stat(target.path)
                ident = (st.st_dev, st.st_ino) if stat.S_ISDIR(st.st_mode) else None
            except OSError:
                ident = None
            if ident is None:
                if target.watch is not None:
                    self._unarm(target)
                continue
            if (target.watch is not None and target.ident == ident and not target.dirty
                    and self._alive(target.watch)):
                continue
            self._unarm(target)
            target.dirty = False
            try:
                # A symlinked target/ (e.g. to a faster disk) must be followed, or
                # inotify watches the link itself and sees nothing inside.
                target.watch = self.observer.schedule(
                    self.handler, target.path, recursive=target.recursive,
                    event_filter=self._event_filter(),
                    follow_symlink=os.path.islink(target.path))
            except OSError as e:
                if self.mode == "polling":
                    raise
                self._fall_back(e)
                return self._arm()
            target.ident = ident
            self.scan_due = 0.0     # catch what was written before the watch existed

    # -- events --------------------------------------------------------------

    def _mark(self, path, now, kind=None):
        if not self.selection.matches(path):
            return
        entry = self.pending.get(path)
        if entry is None:
            entry = self.pending[path] = _Pending(now)
        entry.last_event = now
        # Only inotify reports IN_CLOSE_WRITE, so only there can "modified, not
        # yet closed" mean "a writer still has it open".
        if kind == "modified" and self.mode == "inotify":
            entry.writing = True
        elif kind in ("closed", "moved"):      # renamed into place: complete
            entry.writing = False

    def _drain(self, now):
        targets = {t.path: t for t in self.selection.targets}
        while True:
            try:
                kind, is_dir, src, dest = self.events.get_nowait()
            except queue.Empty:
                return
            if is_dir:
                if kind in ("deleted", "moved") and src in targets:
                    targets[src].dirty = True
                if kind in ("created", "moved"):
                    self.scan_due = 0.0     # a new directory may hold modules already
                continue
            if kind == "deleted":
                self.pending.pop(os.path.abspath(src), None)
            elif kind == "moved":
                self.pending.pop(os.path.abspath(src), None)
                if dest:
                    self._mark(os.path.abspath(dest), now, "moved")
            else:
                self._mark(os.path.abspath(src), now, kind)

    def _scan(self, now):
        for path in self.selection.scan():
            path = os.path.abspath(path)
            if path in self.pending:
                continue
            sig = signature(path)
            if sig is not None and sig not in self.handled:
                self._mark(path, now)
                self.pending[path].last_event = now - self.debounce  # nothing to wait for

    def _remember(self, sig):
        if sig is None:
            return
        self.handled[sig] = True
        self.handled.move_to_end(sig)
        while len(self.handled) > REMEMBERED:
            self.handled.popitem(last=False)

    # -- settling ------------------------------------------------------------

    def _settle(self, stop_event):
        for path in sorted(self.pending):
            if stop_event.is_set():
                return
            entry = self.pending.get(path)
            if entry is None:
                continue
            now = time.monotonic()
            if now - entry.last_event < self.debounce:
                continue
            if entry.writing and now - entry.last_event < self.write_timeout:
                continue
            sig = signature(path)
            if sig is None or sig in self.handled:
                del self.pending[path]
                continue
            if sig != entry.look:
                entry.look, entry.look_at = sig, now
                continue
            if now - entry.look_at < self.debounce:
                continue
            try:
                data = _read_complete(path)
            except InputError as e:
                if signature(path) != sig:
                    entry.look = None
                    continue
                if entry.bad != sig:
                    entry.bad, entry.bad_since = sig, now
                    continue
                if now - entry.bad_since < self.grace:
                    continue
                del self.pending[path]
                self._remember(sig)
                self.report_error(path, e.message if e.path else str(e))
                continue
            if signature(path) != sig:       # changed while we read it
                entry.look = None
                continue
            del self.pending[path]
            left = self.process(path, data)
            self._remember(sig)
            self._remember_result(path, left)

    def _remember_result(self, path, expected):
        """Remember the file now at `path` if it holds what processing left there."""
        if expected is None:
            return
        before = signature(path)
        try:
            now_data = read_bytes(path)
        except InputError:
            return
        if before is not None and signature(path) == before and now_data == expected:
            self._remember(before)
        else:                                 # someone else wrote it meanwhile
            self._mark(path, time.monotonic())

    def _reselect(self):
        """Switch to the Selection of a reloaded configuration (its globs may
        name other directories): drop the old watches, arm the new, rescan."""
        selection = self.reload() if self.reload else None
        if selection is None:
            return
        for target in self.selection.targets:
            self._unarm(target)
        self.selection = selection
        self.scan_due = 0.0

    # -- the loop ------------------------------------------------------------

    def run(self, stop_event, started=None):
        """Watch until `stop_event` is set. `started(targets, mode)` is called once
        the first watches are armed."""
        self._start_observer()
        try:
            self._arm()
            if started is not None:
                started(self.selection.targets, self.mode)
            while not stop_event.is_set():
                now = time.monotonic()
                self._reselect()
                self._drain(now)
                self._arm()
                if self.scan_due is not None and now >= self.scan_due:
                    self.scan_due = now + self.rescan if self.rescan else None
                    self._scan(now)
                self._settle(stop_event)
                stop_event.wait(TICK)
        finally:
            self._stop_observer()


def _read_complete(path):
    """The bytes of `path` once they parse as a whole module or component (a
    file still being written does not); InputError otherwise."""
    data = read_bytes(path)
    if is_component(data):
        load_component(path, data)
    else:
        load_module(path, data)
    return data
