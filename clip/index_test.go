package clip

import (
	"bytes"
	"context"
	"errors"
	"image"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

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
		if d := testdata.MaxAbsDiffRows([][]float32{mem.Embedding(i)}, [][]float32{ix.Embedding(i)}); d > 1e-6 || mem.ID(i) != got[i] {
			t.Errorf("AddImages entry %d (%s): differs from IndexDir's by %g", i, mem.ID(i), d)
		}
		if d := testdata.MaxAbsDiffRows([][]float32{ref[i]}, [][]float32{ix.Embedding(i)}); d > 1e-6 {
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
	if want := indexHeaderSize + 3*4*4 + (4 + 5) + 4 + (4 + len("dir/ü.jpg")) + 4; len(b) != want {
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
		if !bytes.Equal(out.Bytes(), b) {
			t.Fatal("a valid index does not write back to the same bytes")
		}
	})
}
