package clip

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/goformer/goformer/internal/testdata"
)

// bruteForce ranks embeddings by cosine similarity with q, in float64.
func bruteForce(q []float32, embs [][]float32) (order []int, scores []float64) {
	scores = make([]float64, len(embs))
	order = make([]int, len(embs))
	for i, e := range embs {
		var ab, aa, bb float64
		for j := range q {
			ab += float64(q[j]) * float64(e[j])
			aa += float64(q[j]) * float64(q[j])
			bb += float64(e[j]) * float64(e[j])
		}
		scores[i] = ab / math.Sqrt(aa*bb)
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return scores[order[a]] > scores[order[b]] })
	return order, scores
}

// checkRanking compares search results with a brute-force ranking: same
// entries in the same order (entries whose scores differ by less than 1e-6
// may swap) and scores within 1e-5.
func checkRanking(t *testing.T, name string, got []Match, order []int, scores []float64) {
	t.Helper()
	if len(got) != len(order) {
		t.Fatalf("%s: %d results, want %d", name, len(got), len(order))
	}
	for r, mt := range got {
		if d := math.Abs(float64(mt.Score) - scores[mt.Index]); d > 1e-5 {
			t.Errorf("%s: entry %d score %v, brute force %v", name, mt.Index, mt.Score, scores[mt.Index])
		}
		if mt.Index != order[r] && math.Abs(scores[mt.Index]-scores[order[r]]) > 1e-6 {
			t.Errorf("%s: rank %d is entry %d (%.6f), brute force has entry %d (%.6f)", name, r, mt.Index, scores[mt.Index], order[r], scores[order[r]])
		}
	}
}

func TestSearchIndex(t *testing.T) {
	f := loadClipFixture(t)
	m := f.model
	ctx := context.Background()
	dir := testdata.Path(t, "media", "images")

	var skipped []string
	var progress [][2]int
	ix, err := m.IndexDir(ctx, dir, IndexOptions{
		BatchSize: 3,
		Progress:  func(done, total int) { progress = append(progress, [2]int{done, total}) },
		OnError: func(path string, err error) error {
			if err == nil {
				t.Errorf("OnError(%s) with a nil error", path)
			}
			skipped = append(skipped, filepath.Base(path))
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("indexed %d images, skipped %v", ix.Len(), skipped)
	if ix.Len() < 2 {
		t.Fatalf("only %d images indexed", ix.Len())
	}
	if total := ix.Len() + len(skipped); len(progress) == 0 || progress[len(progress)-1] != [2]int{total, total} {
		t.Errorf("progress %v does not end at %d/%d", progress, total, total)
	}
	for i := 1; i < len(progress); i++ {
		if progress[i][0] <= progress[i-1][0] {
			t.Errorf("progress not increasing: %v", progress)
		}
	}

	// The decodable images are exactly those indexed (each decoded once
	// here and reused below).
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	var imgs []image.Image
	var bad string
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		img, err := decodeFile(p)
		if err != nil {
			bad = p
			continue
		}
		want = append(want, p)
		imgs = append(imgs, img)
	}
	got := ix.IDs()
	if len(got) != len(want) {
		t.Fatalf("indexed %v, want the decodable %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("entry %d is %s, want %s", i, got[i], want[i])
		}
	}

	// Stopping at the first bad file is the default.
	if bad != "" {
		if _, err := m.IndexFiles(ctx, []string{bad, want[0]}, IndexOptions{}); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("IndexFiles without OnError: got %v, want an error naming %s", err, bad)
		}
	}

	// Reference embeddings, one image at a time.
	ref := make([][]float32, len(imgs))
	for i, img := range imgs {
		e, err := m.EmbedImages(ctx, []image.Image{img})
		if err != nil {
			t.Fatal(err)
		}
		ref[i] = e[0]
	}

	// In-memory images give the same index.
	mem := m.NewIndex()
	if err := m.AddImages(ctx, mem, got, imgs, IndexOptions{BatchSize: 4}); err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if d := maxAbs([][]float32{mem.Embedding(i)}, [][]float32{ix.Embedding(i)}); d > 1e-6 || mem.ID(i) != got[i] {
			t.Errorf("AddImages entry %d (%s): differs from IndexDir's by %g", i, mem.ID(i), d)
		}
		if d := maxAbs([][]float32{ref[i]}, [][]float32{ix.Embedding(i)}); d > 1e-6 {
			t.Errorf("entry %d: batched embedding differs from the single one by %g", i, d)
		}
	}

	// Save and reload.
	path := filepath.Join(t.TempDir(), "images.gfclip")
	if err := ix.Save(path); err != nil {
		t.Fatal(err)
	}
	back, err := m.LoadIndex(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.Len() != ix.Len() || back.Dim() != ix.Dim() || back.Model() != m.Fingerprint() {
		t.Fatalf("reloaded index: %d×%d of %s, want %d×%d of %s", back.Len(), back.Dim(), back.Model(), ix.Len(), ix.Dim(), m.Fingerprint())
	}
	for i := range ix.Len() {
		a, b := ix.Embedding(i), back.Embedding(i)
		if back.ID(i) != ix.ID(i) {
			t.Errorf("entry %d id %q after reload, was %q", i, back.ID(i), ix.ID(i))
		}
		for j := range a {
			if math.Float32bits(a[j]) != math.Float32bits(b[j]) {
				t.Fatalf("entry %d value %d changed on reload: %v → %v", i, j, a[j], b[j])
			}
		}
	}

	// Queries: the fixture's texts (as token ids, and as strings when the
	// tokenizer is there) and each image.
	type query struct {
		name string
		vec  []float32
		run  func(*Index) ([]Match, error)
	}
	var queries []query
	tf, err := m.TextFeatures(ctx, f.cases.InputIDs, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, text := range f.cases.Texts {
		v := tf.Embeds[i]
		queries = append(queries, query{"ids " + text, v, func(x *Index) ([]Match, error) { return x.Search(v, 0) }})
		if m.HasTokenizer() {
			queries = append(queries, query{"text " + text, v, func(x *Index) ([]Match, error) { return m.SearchText(ctx, x, text, 0) }})
		}
	}
	for i := range imgs {
		v := ref[i]
		queries = append(queries, query{"image " + filepath.Base(got[i]), v, func(x *Index) ([]Match, error) { return x.Search(v, 0) }})
	}
	for _, q := range queries {
		before, err := q.run(ix)
		if err != nil {
			t.Fatalf("%s: %v", q.name, err)
		}
		after, err := q.run(back)
		if err != nil {
			t.Fatalf("%s: %v", q.name, err)
		}
		for r := range before {
			if before[r] != after[r] {
				t.Errorf("%s: rank %d %+v before reload, %+v after", q.name, r, before[r], after[r])
			}
		}
		order, scores := bruteForce(q.vec, ref)
		checkRanking(t, q.name, before, order, scores)
	}
	// Searching by image (preprocessing included) ranks like brute force and
	// finds the image itself first.
	for i, img := range imgs {
		res, err := m.SearchImage(ctx, back, img, 0)
		if err != nil {
			t.Fatal(err)
		}
		order, scores := bruteForce(ref[i], ref)
		checkRanking(t, "SearchImage "+filepath.Base(got[i]), res, order, scores)
		if res[0].Index != i || res[0].Score < 0.9999 {
			t.Errorf("image %s: top match %+v, want itself", got[i], res[0])
		}
	}

	// A different model refuses the index.
	other, err := Load(filepath.Join("testdata", "openai-tiny-jit.pt"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.LoadIndex(path); !errors.Is(err, ErrIndexMismatch) {
		t.Errorf("another model loading the index: got %v, want ErrIndexMismatch", err)
	}
	if _, err := other.SearchImage(ctx, back, imgs[0], 1); !errors.Is(err, ErrIndexMismatch) {
		t.Errorf("another model searching the index: got %v, want ErrIndexMismatch", err)
	}
}

func testIndexBytes(t *testing.T) (*Index, []byte) {
	t.Helper()
	ix := &Index{dim: 4}
	ix.model[0] = 7
	for i, id := range []string{"a.png", "", "dir/ü.jpg"} {
		if err := ix.Add(id, []float32{float32(i + 1), -1, 0.5, 2}); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := ix.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return ix, buf.Bytes()
}

func TestIndexFormat(t *testing.T) {
	ix, b := testIndexBytes(t)
	if want := indexHeaderSize + 3*4*4 + (4 + 5) + 4 + (4 + len("dir/ü.jpg")) + 8 + 3*16 + 4; len(b) != want {
		t.Errorf("file of %d bytes, want %d", len(b), want)
	}
	back, err := ReadIndex(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if back.Len() != 3 || back.ID(2) != "dir/ü.jpg" || back.ID(1) != "" || back.Model() != ix.Model() {
		t.Errorf("round trip: %v %s", back.IDs(), back.Model())
	}
	var norm float64
	for _, v := range back.Embedding(0) {
		norm += float64(v) * float64(v)
	}
	if math.Abs(norm-1) > 1e-6 {
		t.Errorf("stored embedding has squared norm %v", norm)
	}

	corrupt := map[string][]byte{
		"empty":         {},
		"header only":   b[:indexHeaderSize],
		"truncated":     b[:len(b)-1],
		"cut in vector": b[:indexHeaderSize+10],
		"extra byte":    append(append([]byte(nil), b...), 0),
	}
	flip := func(off int) []byte {
		c := append([]byte(nil), b...)
		c[off] ^= 0x40
		return c
	}
	corrupt["magic"] = flip(0)
	corrupt["version"] = flip(8)
	corrupt["dimension"] = flip(12)
	corrupt["count"] = flip(16)
	corrupt["huge count"] = func() []byte { c := flip(23); return c }()
	corrupt["ids length"] = flip(56)
	corrupt["vector bit"] = flip(indexHeaderSize + 5)
	corrupt["id byte"] = flip(len(b) - 6)
	corrupt["checksum"] = flip(len(b) - 1)
	// The version 2 tail: flags, root length, file stamps (checksums
	// recomputed, so that the structural checks are what refuse them).
	tail := len(b) - 4 - 3*16 - 8
	corrupt["unknown flag"] = resum(flip(tail))
	corrupt["root length"] = resum(flip(tail + 4))
	corrupt["file size"] = resum(func() []byte {
		c := append([]byte(nil), b...)
		binary.LittleEndian.PutUint64(c[tail+8:], uint64(1<<64-5)) // −5
		return c
	}())
	corrupt["relative root"] = resum(func() []byte {
		rel := *ix
		rel.root = "pics"
		var buf bytes.Buffer
		rel.WriteTo(&buf)
		return buf.Bytes()
	}())
	corrupt["version 1 with a tail"] = resum(func() []byte {
		c := append([]byte(nil), b...)
		binary.LittleEndian.PutUint32(c[8:], 1)
		return c
	}())
	for name, c := range corrupt {
		if _, err := ReadIndex(bytes.NewReader(c)); !errors.Is(err, ErrCorruptIndex) {
			t.Errorf("%s: got %v, want ErrCorruptIndex", name, err)
		}
	}

	if err := ix.Add("x", []float32{1, 2}); !errors.Is(err, ErrInput) {
		t.Errorf("short embedding: %v", err)
	}
	if err := ix.Add("x", []float32{0, 0, 0, 0}); !errors.Is(err, ErrInput) {
		t.Errorf("zero embedding: %v", err)
	}
	if err := ix.Add("x", []float32{float32(math.NaN()), 0, 0, 1}); !errors.Is(err, ErrInput) {
		t.Errorf("NaN embedding: %v", err)
	}
	if _, err := ix.Search([]float32{1}, 1); !errors.Is(err, ErrInput) {
		t.Errorf("short query: %v", err)
	}
	res, err := ix.Search([]float32{3, -1, 0.5, 2}, 2)
	if err != nil || len(res) != 2 || res[0].ID != "dir/ü.jpg" {
		t.Errorf("search: %+v %v", res, err)
	}
}

func FuzzReadIndex(f *testing.F) {
	ix := &Index{dim: 3}
	ix.Add("one", []float32{1, 2, 3})
	ix.Add("two", []float32{-1, 0, 1})
	var buf bytes.Buffer
	ix.WriteTo(&buf)
	f.Add(buf.Bytes())
	f.Add(version1(ix))
	ix.root, ix.recursive = "/photos", true
	buf.Reset()
	ix.WriteTo(&buf)
	f.Add(buf.Bytes())
	f.Add([]byte(indexMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := ReadIndex(bytes.NewReader(b))
		if err != nil {
			if !errors.Is(err, ErrCorruptIndex) {
				t.Fatalf("error %v does not wrap ErrCorruptIndex", err)
			}
			return
		}
		var out bytes.Buffer
		if _, err := got.WriteTo(&out); err != nil {
			t.Fatal(err)
		}
		// A version 2 index writes back to the same bytes; a version 1
		// index is written as version 2, which then does.
		if binary.LittleEndian.Uint32(b[8:]) == 1 {
			again, err := ReadIndex(bytes.NewReader(out.Bytes()))
			if err != nil || !slices.Equal(again.IDs(), got.IDs()) || again.Root() != "" {
				t.Fatalf("a version 1 index written as version 2 reads back as %v, %v", again, err)
			}
			return
		}
		if !bytes.Equal(out.Bytes(), b) {
			t.Fatal("a valid index does not write back to the same bytes")
		}
	})
}

// resum recomputes the checksum of an index file.
func resum(b []byte) []byte {
	binary.LittleEndian.PutUint32(b[len(b)-4:], crc32.ChecksumIEEE(b[:len(b)-4]))
	return b
}

// version1 writes ix in format version 1: no flags, root or file stamps.
func version1(ix *Index) []byte {
	var buf bytes.Buffer
	ix.WriteTo(&buf)
	b := buf.Bytes()
	end := len(b) - 4 - 8 - len(ix.root) - 16*ix.Len()
	b = append(b[:end:end], 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(b[8:], 1)
	return resum(b)
}

// TestIndexVersion1 checks that a version 1 file (before the folder was
// recorded) still loads and searches, records no folder, and is refused
// where a folder is needed.
func TestIndexVersion1(t *testing.T) {
	ix, _ := testIndexBytes(t)
	old, err := ReadIndex(bytes.NewReader(version1(ix)))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(old.IDs(), ix.IDs()) || old.Root() != "" || old.Model() != ix.Model() {
		t.Errorf("version 1: ids %v root %q model %s", old.IDs(), old.Root(), old.Model())
	}
	for i := range ix.Len() {
		if !slices.Equal(old.Embedding(i), ix.Embedding(i)) {
			t.Errorf("entry %d: %v, want %v", i, old.Embedding(i), ix.Embedding(i))
		}
	}
	if err := old.CheckRoot(t.TempDir()); !errors.Is(err, ErrIndexRoot) || !strings.Contains(err.Error(), "records no folder") {
		t.Errorf("CheckRoot on a version 1 index: %v, want ErrIndexRoot saying it records no folder", err)
	}
	if _, err := old.Search([]float32{3, -1, 0.5, 2}, 1); err != nil {
		t.Errorf("search: %v", err)
	}
	var buf bytes.Buffer
	if _, err := old.WriteTo(&buf); err != nil || binary.LittleEndian.Uint32(buf.Bytes()[8:]) != indexVersion {
		t.Errorf("a version 1 index is written as version %d (%v), want %d", binary.LittleEndian.Uint32(buf.Bytes()[8:]), err, indexVersion)
	}
}

// copyFile copies src to dst, setting its modification time to mtime.
func copyFile(t *testing.T, src, dst string, mtime time.Time) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(dst, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

// TestIndexFolder checks that an index knows its folder: absolute ids and
// root, another folder refused with ErrIndexRoot (and the same folder by
// another path accepted), and UpdateIndex re-embedding exactly the files
// added or changed (by size and modification time), dropping deleted ones
// and keeping the others bit for bit, to the index IndexDir builds afresh.
func TestIndexFolder(t *testing.T) {
	m := loadClipFixture(t).model
	ctx := context.Background()
	media := testdata.Path(t, "media", "images")
	dir := t.TempDir()
	t0 := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, name := range []string{"astronaut.png", "camera.png", "chelsea.png", "coffee.png"} {
		copyFile(t, filepath.Join(media, name), filepath.Join(dir, name), t0)
	}
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not an image"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A relative path to the folder: ids and root come out absolute.
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(wd, dir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "photos.gfclip")
	ix, ch, err := m.OpenIndex(ctx, path, rel, IndexOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ix.Root() != dir || ch != (IndexChanges{Added: 4}) {
		t.Errorf("new index: root %q, changes %+v; want %q, 4 added", ix.Root(), ch, dir)
	}
	for _, id := range ix.IDs() {
		if !filepath.IsAbs(id) || filepath.Dir(id) != dir {
			t.Errorf("id %q is not an absolute path in %s", id, dir)
		}
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("OpenIndex did not save the new index: %v", err)
	}

	// Nothing changed: nothing embedded, nothing written.
	before, _ := os.Stat(path)
	var embedded int
	count := IndexOptions{Progress: func(done, total int) { embedded = total }}
	again, ch, err := m.OpenIndex(ctx, path, dir, count)
	if err != nil {
		t.Fatal(err)
	}
	if ch != (IndexChanges{Unchanged: 4}) || ch.Changed() || embedded != 0 {
		t.Errorf("unchanged folder: %+v, %d files embedded", ch, embedded)
	}
	if after, _ := os.Stat(path); !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("an unchanged index was written again")
	}
	if !slices.Equal(again.IDs(), ix.IDs()) {
		t.Errorf("reopened ids %v, want %v", again.IDs(), ix.IDs())
	}

	// Another folder is refused, naming both; the same folder through a
	// symbolic link is accepted.
	other := t.TempDir()
	_, _, err = m.OpenIndex(ctx, path, other, IndexOptions{})
	if !errors.Is(err, ErrIndexRoot) || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), other) {
		t.Errorf("another folder: %v, want ErrIndexRoot naming %s and %s", err, dir, other)
	}
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(dir, link); err == nil {
		if _, _, err := m.OpenIndex(ctx, path, link, IndexOptions{}); err != nil {
			t.Errorf("the folder through a symbolic link: %v", err)
		}
	}
	// An index from a list of files records no folder.
	files, err := m.IndexFiles(ctx, []string{filepath.Join(dir, "camera.png")}, IndexOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.UpdateIndex(ctx, files, IndexOptions{}); !errors.Is(err, ErrIndexRoot) {
		t.Errorf("UpdateIndex on an index of files: %v, want ErrIndexRoot", err)
	}
	if files.ID(0) != filepath.Join(dir, "camera.png") {
		t.Errorf("IndexFiles id %q", files.ID(0))
	}
	old := filepath.Join(t.TempDir(), "old.gfclip")
	if err := os.WriteFile(old, version1(ix), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.OpenIndex(ctx, old, dir, IndexOptions{}); !errors.Is(err, ErrIndexRoot) {
		t.Errorf("a version 1 index: %v, want ErrIndexRoot", err)
	}

	// Change the folder: one file deleted, one replaced by another image
	// (new size and time), one touched (same content, new time), one
	// added, one left alone, one that does not decode.
	kept := ix.Embedding(slices.Index(ix.IDs(), filepath.Join(dir, "chelsea.png")))
	t1 := t0.Add(time.Hour)
	if err := os.Remove(filepath.Join(dir, "astronaut.png")); err != nil {
		t.Fatal(err)
	}
	copyFile(t, filepath.Join(media, "rocket.jpg"), filepath.Join(dir, "camera.png"), t1)
	if err := os.Chtimes(filepath.Join(dir, "coffee.png"), t1, t1); err != nil {
		t.Fatal(err)
	}
	copyFile(t, filepath.Join(media, "logo.png"), filepath.Join(dir, "logo.png"), t1)
	copyFile(t, filepath.Join(media, "truncated.jpg"), filepath.Join(dir, "truncated.jpg"), t1)
	var skipped []string
	opt := IndexOptions{
		Progress: func(done, total int) { embedded = total },
		OnError:  func(path string, err error) error { skipped = append(skipped, filepath.Base(path)); return nil },
	}
	ix, ch, err = m.OpenIndex(ctx, path, dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	if want := (IndexChanges{Added: 1, Updated: 2, Removed: 1, Unchanged: 1}); ch != want || embedded != 4 {
		t.Errorf("changes %+v with %d files read, want %+v with 4 (the truncated file skipped: %v)", ch, embedded, want, skipped)
	}
	if !slices.Equal(ix.Embedding(slices.Index(ix.IDs(), filepath.Join(dir, "chelsea.png"))), kept) {
		t.Errorf("the unchanged file's embedding changed")
	}
	fresh, err := m.IndexDir(ctx, dir, IndexOptions{OnError: opt.OnError})
	if err != nil {
		t.Fatal(err)
	}
	saved, err := m.LoadIndex(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, got := range []*Index{ix, saved} {
		if !slices.Equal(got.IDs(), fresh.IDs()) {
			t.Fatalf("updated ids %v, want %v", got.IDs(), fresh.IDs())
		}
		for i := range fresh.Len() {
			if d := maxAbs([][]float32{got.Embedding(i)}, [][]float32{fresh.Embedding(i)}); d > 1e-6 {
				t.Errorf("entry %s differs from a fresh index by %g", fresh.ID(i), d)
			}
		}
	}
	// Indexing subfolders too is an update of the same index.
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, filepath.Join(media, "page.png"), filepath.Join(sub, "page.png"), t0)
	ix, ch, err = m.OpenIndex(ctx, path, dir, IndexOptions{Recursive: true, OnError: opt.OnError})
	if err != nil {
		t.Fatal(err)
	}
	if ch != (IndexChanges{Added: 1, Unchanged: 4}) || !ix.Recursive() || !slices.Contains(ix.IDs(), filepath.Join(sub, "page.png")) {
		t.Errorf("recursive update: %+v, recursive %v, ids %v", ch, ix.Recursive(), ix.IDs())
	}
}

// TestNewIndexFor builds an index from a fingerprint and vectors, as a
// program does that embeds in one place and indexes in another: the model
// accepts it as its own, and it holds what NewIndex would.
func TestNewIndexFor(t *testing.T) {
	f := loadClipFixture(t)
	m := f.model
	vecs, err := m.EmbedTexts(context.Background(), []string{"a photo of a cat", "a dog"})
	if err != nil {
		t.Fatal(err)
	}
	ix, err := NewIndexFor(m.Fingerprint(), m.Dim())
	if err != nil {
		t.Fatal(err)
	}
	ref := m.NewIndex()
	for i, v := range vecs {
		id := []string{"cat", "dog"}[i]
		if err := ix.Add(id, v); err != nil {
			t.Fatal(err)
		}
		if err := ref.Add(id, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.CheckIndex(ix); err != nil {
		t.Fatalf("CheckIndex: %v", err)
	}
	var a, b bytes.Buffer
	if _, err := ix.WriteTo(&a); err != nil {
		t.Fatal(err)
	}
	if _, err := ref.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("index made with NewIndexFor differs from the model's NewIndex")
	}
	path := filepath.Join(t.TempDir(), "x.gfidx")
	if err := ix.Save(path); err != nil {
		t.Fatal(err)
	}
	if _, err := m.LoadIndex(path); err != nil {
		t.Errorf("LoadIndex: %v", err)
	}

	other := strings.Repeat("0", 64)
	if ix, err := NewIndexFor(other, m.Dim()); err != nil {
		t.Fatal(err)
	} else if err := m.CheckIndex(ix); !errors.Is(err, ErrIndexMismatch) {
		t.Errorf("index of another fingerprint: %v, want ErrIndexMismatch", err)
	}
	for _, c := range []struct {
		fp  string
		dim int
	}{{"", 4}, {"xyz", 4}, {m.Fingerprint()[:62], 4}, {m.Fingerprint() + "00", 4}, {m.Fingerprint(), 0}, {m.Fingerprint(), -1}, {m.Fingerprint(), maxIndexDim + 1}} {
		if _, err := NewIndexFor(c.fp, c.dim); !errors.Is(err, ErrInput) {
			t.Errorf("NewIndexFor(%q, %d): %v, want ErrInput", c.fp, c.dim, err)
		}
	}
}
