package clip

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/goformer/goformer/task"
)

// ErrIndexRoot marks an index used with another folder than the one it was
// built from, or one that records no folder (made by IndexFiles or
// AddImages, or by goformer before index format 2) where a folder is
// needed: its entries are not that folder's images.
var ErrIndexRoot = errors.New("clip: index built over another folder")

// fileStamp is what UpdateIndex compares to tell a changed file: its size
// (−1: the entry is no file) and modification time in Unix nanoseconds.
type fileStamp struct {
	size, mtime int64
}

func stampOf(fi fs.FileInfo) fileStamp {
	return fileStamp{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
}

// stamp returns entry i's file stamp.
func (ix *Index) stamp(i int) fileStamp {
	if i < len(ix.files) {
		return ix.files[i]
	}
	return fileStamp{size: -1}
}

// absPath returns the absolute, cleaned form of p (p itself, cleaned, when
// the working directory is unknown).
func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return filepath.Clean(p)
}

// Root returns the absolute folder IndexDir indexed, or "" when the index
// was made otherwise (IndexFiles, AddImages, NewIndex and Add) or read from
// a version 1 file.
func (ix *Index) Root() string { return ix.root }

// Recursive reports whether IndexDir (or the last UpdateIndex) indexed the
// subfolders of Root too.
func (ix *Index) Recursive() bool { return ix.recursive }

// CheckRoot reports whether ix was built over the folder dir (the same
// absolute path, or another path to the same folder), wrapping ErrIndexRoot
// when not, or when ix records no folder.
func (ix *Index) CheckRoot(dir string) error {
	want := absPath(dir)
	switch {
	case ix.root == "":
		return fmt.Errorf("%w: the index records no folder (made from a list of files or images, or by goformer before index format 2), so it cannot stand for %s: rebuild it with IndexDir", ErrIndexRoot, want)
	case ix.root == want:
		return nil
	}
	a, errA := os.Stat(ix.root)
	b, errB := os.Stat(want)
	if errA == nil && errB == nil && os.SameFile(a, b) {
		return nil
	}
	return fmt.Errorf("%w: the index was built over %s, not %s: rebuild it for this folder (or use an index file per folder)", ErrIndexRoot, ix.root, want)
}

// IndexChanges counts what UpdateIndex (or OpenIndex) did to an index:
// Added, the image files new to the index, embedded; Updated, the files
// whose size or modification time changed, embedded again; Removed, the
// entries dropped (files deleted, no longer image files of the folder, or
// no longer decodable and skipped by OnError); Unchanged, the entries kept
// as they were, not embedded again. Changed reports whether any entry was
// added, updated or removed. It is the front door's task.IndexChanges.
type IndexChanges = task.IndexChanges

// UpdateIndex brings an index made by IndexDir up to date with its folder
// (Root), as IndexDir with opt would index it now: image files that are
// new, or whose size or modification time changed, are embedded (Progress
// counts those files only), entries of files deleted or no longer indexed
// are dropped, and the others are kept without being read. Entries end in
// IndexDir's order. An index that records no folder is refused with
// ErrIndexRoot. On error ix is left as it was.
func (m *Model) UpdateIndex(ctx context.Context, ix *Index, opt IndexOptions) (IndexChanges, error) {
	var ch IndexChanges
	if err := m.CheckIndex(ix); err != nil {
		return ch, err
	}
	if ix.root == "" {
		return ch, fmt.Errorf("%w: the index records no folder (made from a list of files or images, or by goformer before index format 2): rebuild it with IndexDir", ErrIndexRoot)
	}
	_, paths, err := scanDir(ix.root, opt.Recursive)
	if err != nil {
		return ch, err
	}
	old := make(map[string]int, len(ix.ids))
	for i, id := range ix.ids {
		old[id] = i
	}
	keep := make(map[string]bool, len(paths))
	var todo []string
	for _, p := range paths {
		i, ok := old[p]
		if st, err := os.Stat(p); ok && err == nil && ix.stamp(i).size >= 0 && ix.stamp(i) == stampOf(st) {
			keep[p] = true
			continue
		}
		todo = append(todo, p) // a stat error is reported by decoding
	}
	fresh := &Index{dim: ix.dim, model: ix.model}
	at := make(map[string]int, len(todo))
	err = m.embedFiles(ctx, todo, opt, func(path string, stamp fileStamp, e []float32) error {
		if err := fresh.Add(path, e); err != nil {
			return err
		}
		fresh.files[len(fresh.files)-1] = stamp
		at[path] = len(fresh.ids) - 1
		return nil
	})
	if err != nil {
		return IndexChanges{}, err
	}
	n := len(keep) + len(at)
	ids := make([]string, 0, n)
	vecs := make([]float32, 0, n*ix.dim)
	files := make([]fileStamp, 0, n)
	for _, p := range paths {
		src, i := ix, old[p]
		if !keep[p] {
			j, ok := at[p]
			if !ok {
				continue // skipped: it failed to decode
			}
			src, i = fresh, j
			if _, was := old[p]; was {
				ch.Updated++
			} else {
				ch.Added++
			}
		} else {
			ch.Unchanged++
		}
		ids = append(ids, p)
		vecs = append(vecs, src.vecs[i*ix.dim:(i+1)*ix.dim]...)
		files = append(files, src.stamp(i))
	}
	ch.Removed = len(ix.ids) - ch.Unchanged - ch.Updated
	ix.ids, ix.vecs, ix.files, ix.recursive = ids, vecs, files, opt.Recursive
	return ch, nil
}

// OpenIndex returns the index saved at path for the image folder dir, kept
// up to date: when path does not exist the folder is indexed (IndexDir)
// and saved there; otherwise the index is loaded, checked (made by this
// model, else ErrIndexMismatch; built over dir, else ErrIndexRoot, also
// for an index that records no folder), brought up to date with UpdateIndex
// and saved back when anything changed. The errors name path; refusing an
// index of another folder or model is the caller's cue to rebuild it (or
// to keep an index file per folder).
func (m *Model) OpenIndex(ctx context.Context, path, dir string, opt IndexOptions) (*Index, IndexChanges, error) {
	ix, err := m.LoadIndex(path)
	if errors.Is(err, fs.ErrNotExist) {
		ix, err := m.IndexDir(ctx, dir, opt)
		if err != nil {
			return nil, IndexChanges{}, err
		}
		ch := IndexChanges{Added: ix.Len()}
		if err := ix.Save(path); err != nil {
			return nil, ch, err
		}
		return ix, ch, nil
	}
	if err != nil {
		return nil, IndexChanges{}, err
	}
	if err := ix.CheckRoot(dir); err != nil {
		return nil, IndexChanges{}, fmt.Errorf("%s: %w", path, err)
	}
	wasRecursive := ix.recursive
	ch, err := m.UpdateIndex(ctx, ix, opt)
	if err != nil {
		return nil, ch, fmt.Errorf("%s: %w", path, err)
	}
	if ch.Changed() || wasRecursive != ix.recursive {
		if err := ix.Save(path); err != nil {
			return nil, ch, err
		}
	}
	return ix, ch, nil
}
