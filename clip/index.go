package clip

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/goformer/goformer/task"

	"github.com/goformer/goformer/tensor"
	"github.com/goformer/goformer/vit"
)

// Index file format, version 1. All integers and floats are little-endian.
//
//	offset  size        field
//	0       8           magic "GFCLIPIX"
//	8       4           format version (uint32) = 1
//	12      4           embedding dimension D (uint32)
//	16      8           number of entries N (uint64)
//	24      32          model fingerprint: SHA-256 of the model's dimensions,
//	                    projection weights and logit scale (Model.Fingerprint)
//	56      8           byte length L of the ids section (uint64)
//	64      N·D·4       embeddings, float32, unit L2 norm, one row per entry
//	64+N·D·4  L         ids: per entry a uint32 byte length and the bytes
//	end−4   4           CRC-32 (IEEE) of every preceding byte
//
// Readers check the magic, the version, that the sizes add up to the file's
// length exactly, the checksum, and that every value is finite; Model.
// LoadIndex also checks the dimension and fingerprint against the model.
const (
	indexMagic      = "GFCLIPIX"
	indexVersion    = 1
	indexHeaderSize = 64
	maxIndexDim     = 1 << 16
	maxIndexIDLen   = 1 << 16
)

// Index errors, for errors.Is.
var (
	// ErrCorruptIndex marks an index file that is truncated, altered or not
	// an index at all.
	ErrCorruptIndex = errors.New("clip: corrupt index")
	// ErrIndexMismatch marks an index made by another model (or of another
	// dimension) than the one it is used with.
	ErrIndexMismatch = fmt.Errorf("clip: %w", task.ErrIndexMismatch)
)

// Index is a set of unit-norm embeddings with string ids (image paths, as
// IndexFiles makes them), searched by cosine similarity. It records the
// fingerprint of the model that made it. Concurrent searches are safe;
// adding entries is not safe concurrently with other use.
type Index struct {
	dim   int
	model [32]byte
	ids   []string
	vecs  []float32 // len(ids)·dim
}

// Match is one search result.
type Match struct {
	// ID is the entry's id (for IndexFiles and IndexDir, the image path).
	ID string `json:"id"`
	// Index is the entry's position in the index.
	Index int `json:"index"`
	// Score is the cosine similarity with the query (−1 to 1).
	Score float32 `json:"score"`
}

// NewIndex returns an empty index for the model's embeddings.
func (m *Model) NewIndex() *Index { return &Index{dim: m.Dim(), model: m.id} }

// NewIndexFor returns an empty index for the embeddings of the model whose
// Fingerprint is fingerprint (64 hex digits) and whose embeddings have dim
// values: for programs that compute embeddings in one place and index them
// in another (a distributed job's workers), where the model is not at
// hand. Model.LoadIndex accepts the saved index as that model's own.
func NewIndexFor(fingerprint string, dim int) (*Index, error) {
	ix := &Index{dim: dim}
	b, err := hex.DecodeString(fingerprint)
	if err != nil || len(b) != len(ix.model) {
		return nil, fmt.Errorf("%w: model fingerprint %q is not %d hex digits", ErrInput, fingerprint, 2*len(ix.model))
	}
	if dim <= 0 || dim > maxIndexDim {
		return nil, fmt.Errorf("%w: index dimension %d (want 1…%d)", ErrInput, dim, maxIndexDim)
	}
	copy(ix.model[:], b)
	return ix, nil
}

// Dim returns the embedding dimension.
func (ix *Index) Dim() int { return ix.dim }

// Len returns the number of entries.
func (ix *Index) Len() int { return len(ix.ids) }

// Model returns the fingerprint of the model that made the index.
func (ix *Index) Model() string { return hex.EncodeToString(ix.model[:]) }

// ID returns the id of entry i.
func (ix *Index) ID(i int) string { return ix.ids[i] }

// IDs returns a copy of the ids, in entry order.
func (ix *Index) IDs() []string { return append([]string(nil), ix.ids...) }

// Embedding returns a copy of entry i's embedding.
func (ix *Index) Embedding(i int) []float32 {
	return append([]float32(nil), ix.vecs[i*ix.dim:(i+1)*ix.dim]...)
}

// Add appends an entry; the embedding is scaled to unit norm. An embedding
// of the wrong length, with non-finite values or all zeros is an error.
func (ix *Index) Add(id string, embedding []float32) error {
	if len(embedding) != ix.dim {
		return fmt.Errorf("%w: embedding of %d values for an index of dimension %d", ErrInput, len(embedding), ix.dim)
	}
	if len(id) > maxIndexIDLen {
		return fmt.Errorf("%w: id of %d bytes (at most %d)", ErrInput, len(id), maxIndexIDLen)
	}
	var s float64
	for _, v := range embedding {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("%w: embedding for %q has non-finite values", ErrInput, id)
		}
		s += float64(v) * float64(v)
	}
	if s == 0 {
		return fmt.Errorf("%w: embedding for %q is all zeros", ErrInput, id)
	}
	ix.ids = append(ix.ids, id)
	ix.vecs = append(ix.vecs, normalized(embedding)...)
	return nil
}

// Search returns the k entries most similar to query (any non-zero vector
// of the index's dimension), best first; ties keep entry order. k ≤ 0 or
// beyond Len returns every entry.
func (ix *Index) Search(query []float32, k int) ([]Match, error) {
	if len(query) != ix.dim {
		return nil, fmt.Errorf("%w: query of %d values for an index of dimension %d", ErrInput, len(query), ix.dim)
	}
	q := normalized(query)
	n := len(ix.ids)
	scores := make([]float32, n)
	tensor.Parallel(n, 2048, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			scores[i] = tensor.Dot(q, ix.vecs[i*ix.dim:(i+1)*ix.dim])
		}
	})
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return scores[order[a]] > scores[order[b]] })
	if k <= 0 || k > n {
		k = n
	}
	out := make([]Match, k)
	for r := range out {
		i := order[r]
		out[r] = Match{ID: ix.ids[i], Index: i, Score: scores[i]}
	}
	return out, nil
}

// WriteTo writes the index in the format described above.
func (ix *Index) WriteTo(w io.Writer) (int64, error) {
	var idsLen uint64
	for _, id := range ix.ids {
		idsLen += 4 + uint64(len(id))
	}
	crc := crc32.NewIEEE()
	cw := &countWriter{w: io.MultiWriter(w, crc)}
	hdr := make([]byte, indexHeaderSize)
	copy(hdr, indexMagic)
	binary.LittleEndian.PutUint32(hdr[8:], indexVersion)
	binary.LittleEndian.PutUint32(hdr[12:], uint32(ix.dim))
	binary.LittleEndian.PutUint64(hdr[16:], uint64(len(ix.ids)))
	copy(hdr[24:56], ix.model[:])
	binary.LittleEndian.PutUint64(hdr[56:], idsLen)
	cw.Write(hdr)
	buf := make([]byte, 0, 1<<16)
	for _, v := range ix.vecs {
		buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
		if len(buf) >= 1<<16-4 {
			cw.Write(buf)
			buf = buf[:0]
		}
	}
	for _, id := range ix.ids {
		buf = binary.LittleEndian.AppendUint32(buf, uint32(len(id)))
		buf = append(buf, id...)
		if len(buf) >= 1<<16 {
			cw.Write(buf)
			buf = buf[:0]
		}
	}
	cw.Write(buf)
	if cw.err != nil {
		return cw.n, cw.err
	}
	var sum [4]byte
	binary.LittleEndian.PutUint32(sum[:], crc.Sum32())
	n, err := w.Write(sum[:])
	return cw.n + int64(n), err
}

type countWriter struct {
	w   io.Writer
	n   int64
	err error
}

// Write writes p, remembering the first error.
func (c *countWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
	return n, err
}

// Save writes the index to path atomically (a temporary file in the same
// directory, renamed over path).
func (ix *Index) Save(path string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("clip: save index: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := ix.WriteTo(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("clip: save index %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("clip: save index %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("clip: save index: %w", err)
	}
	return nil
}

// ReadIndex reads an index written by WriteTo or Save. It does not check
// which model made it (see Model.CheckIndex).
func ReadIndex(r io.Reader) (*Index, error) {
	// Reading everything first bounds allocations by the data actually
	// present, whatever the header claims.
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("clip: read index: %w", err)
	}
	return parseIndex(b)
}

// LoadIndex reads an index file. It does not check which model made it
// (see Model.LoadIndex).
func LoadIndex(path string) (*Index, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("clip: load index: %w", err)
	}
	ix, err := parseIndex(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ix, nil
}

func parseIndex(b []byte) (*Index, error) {
	bad := func(format string, args ...any) (*Index, error) {
		return nil, fmt.Errorf("%w: %s", ErrCorruptIndex, fmt.Sprintf(format, args...))
	}
	if len(b) < indexHeaderSize+4 {
		return bad("%d bytes is shorter than the header", len(b))
	}
	if string(b[:8]) != indexMagic {
		return bad("not a goformer CLIP index (magic %q)", b[:8])
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != indexVersion {
		return bad("format version %d (this build reads version %d)", v, indexVersion)
	}
	dim := uint64(binary.LittleEndian.Uint32(b[12:]))
	n := binary.LittleEndian.Uint64(b[16:])
	idsLen := binary.LittleEndian.Uint64(b[56:])
	if dim == 0 || dim > maxIndexDim {
		return bad("dimension %d", dim)
	}
	size := uint64(len(b))
	body := size - indexHeaderSize - 4
	if n > body/(dim*4) || idsLen > body || n*dim*4+idsLen != body {
		return bad("header says %d entries of dimension %d and %d bytes of ids, but the file has %d bytes (truncated or altered)", n, dim, idsLen, size)
	}
	if got, want := crc32.ChecksumIEEE(b[:size-4]), binary.LittleEndian.Uint32(b[size-4:]); got != want {
		return bad("checksum mismatch (stored %08x, computed %08x)", want, got)
	}
	ix := &Index{dim: int(dim)}
	copy(ix.model[:], b[24:56])
	vb := b[indexHeaderSize : indexHeaderSize+n*dim*4]
	ix.vecs = make([]float32, n*dim)
	for i := range ix.vecs {
		v := math.Float32frombits(binary.LittleEndian.Uint32(vb[4*i:]))
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return bad("entry %d has a non-finite value", uint64(i)/dim)
		}
		ix.vecs[i] = v
	}
	ib := b[indexHeaderSize+n*dim*4 : size-4]
	ix.ids = make([]string, 0, n)
	for i := uint64(0); i < n; i++ {
		if len(ib) < 4 {
			return bad("ids section ends at entry %d of %d", i, n)
		}
		l := uint64(binary.LittleEndian.Uint32(ib))
		if l > uint64(len(ib)-4) {
			return bad("id %d of %d bytes overruns the ids section", i, l)
		}
		ix.ids = append(ix.ids, string(ib[4:4+l]))
		ib = ib[4+l:]
	}
	if len(ib) != 0 {
		return bad("%d stray bytes after the ids", len(ib))
	}
	return ix, nil
}

// CheckIndex reports whether ix was made by this model (same dimension and
// fingerprint), wrapping ErrIndexMismatch when not.
func (m *Model) CheckIndex(ix *Index) error {
	if ix == nil {
		return fmt.Errorf("%w: nil index", ErrInput)
	}
	if ix.dim != m.Dim() || !bytes.Equal(ix.model[:], m.id[:]) {
		return fmt.Errorf("%w: index of dimension %d from model %s, this model has dimension %d and fingerprint %s", ErrIndexMismatch, ix.dim, ix.Model()[:16], m.Dim(), m.Fingerprint()[:16])
	}
	return nil
}

// LoadIndex reads an index file and checks that this model made it.
func (m *Model) LoadIndex(path string) (*Index, error) {
	ix, err := LoadIndex(path)
	if err != nil {
		return nil, err
	}
	if err := m.CheckIndex(ix); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ix, nil
}

// IndexOptions configures IndexFiles, IndexDir and AddFiles.
type IndexOptions struct {
	// BatchSize is the number of images embedded together; 0 means 8.
	BatchSize int
	// Progress, when set, is called after each batch with the number of
	// files handled so far (embedded or skipped) and the total.
	Progress func(done, total int)
	// OnError decides what happens when a file cannot be read or decoded:
	// returning nil skips the file, returning an error stops indexing with
	// it. nil stops at the first such file.
	OnError func(path string, err error) error
	// Recursive makes IndexDir descend into subdirectories.
	Recursive bool
}

// ImageExtensions are the file name extensions IndexDir picks up
// (compared case-insensitively).
var ImageExtensions = []string{".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp"}

// IndexDir indexes the image files of dir (by extension, see
// ImageExtensions) in lexical order, with their paths as ids.
func (m *Model) IndexDir(ctx context.Context, dir string, opt IndexOptions) (*Index, error) {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != dir && !opt.Recursive {
				return filepath.SkipDir
			}
			return nil
		}
		ext := strings.ToLower(filepath.Ext(p))
		for _, e := range ImageExtensions {
			if ext == e {
				paths = append(paths, p)
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("clip: index %s: %w", dir, err)
	}
	return m.IndexFiles(ctx, paths, opt)
}

// IndexFiles embeds image files into a new index, with their paths as ids.
func (m *Model) IndexFiles(ctx context.Context, paths []string, opt IndexOptions) (*Index, error) {
	ix := m.NewIndex()
	if err := m.AddFiles(ctx, ix, paths, opt); err != nil {
		return nil, err
	}
	return ix, nil
}

// AddFiles embeds image files in batches and appends them to ix. On error
// the entries of completed batches stay in ix.
func (m *Model) AddFiles(ctx context.Context, ix *Index, paths []string, opt IndexOptions) error {
	if err := m.CheckIndex(ix); err != nil {
		return err
	}
	bs := opt.BatchSize
	if bs <= 0 {
		bs = 8
	}
	for start := 0; start < len(paths); start += bs {
		if err := ctx.Err(); err != nil {
			return err
		}
		batch := paths[start:min(start+bs, len(paths))]
		imgs := make([]image.Image, len(batch))
		errs := make([]error, len(batch))
		var wg sync.WaitGroup
		sem := make(chan struct{}, max(tensor.Threads(), 1))
		for i, p := range batch {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				imgs[i], errs[i] = decodeFile(p)
			}()
		}
		wg.Wait()
		var ids []string
		var ok []image.Image
		for i, p := range batch {
			if errs[i] == nil {
				ids = append(ids, p)
				ok = append(ok, imgs[i])
				continue
			}
			if opt.OnError == nil {
				return fmt.Errorf("clip: index %s: %w", p, errs[i])
			}
			if err := opt.OnError(p, errs[i]); err != nil {
				return err
			}
		}
		if len(ok) > 0 {
			emb, err := m.EmbedImages(ctx, ok)
			if err != nil {
				return fmt.Errorf("clip: index batch at %s: %w", ids[0], err)
			}
			for i, e := range emb {
				if err := ix.Add(ids[i], e); err != nil {
					return err
				}
			}
		}
		if opt.Progress != nil {
			opt.Progress(start+len(batch), len(paths))
		}
	}
	return nil
}

// AddImages embeds in-memory images in batches (BatchSize and Progress of
// opt apply) and appends them to ix under the given ids.
func (m *Model) AddImages(ctx context.Context, ix *Index, ids []string, imgs []image.Image, opt IndexOptions) error {
	if err := m.CheckIndex(ix); err != nil {
		return err
	}
	if len(ids) != len(imgs) {
		return fmt.Errorf("%w: %d ids for %d images", ErrInput, len(ids), len(imgs))
	}
	bs := opt.BatchSize
	if bs <= 0 {
		bs = 8
	}
	for start := 0; start < len(imgs); start += bs {
		end := min(start+bs, len(imgs))
		emb, err := m.EmbedImages(ctx, imgs[start:end])
		if err != nil {
			return fmt.Errorf("clip: index batch at %q: %w", ids[start], err)
		}
		for i, e := range emb {
			if err := ix.Add(ids[start+i], e); err != nil {
				return err
			}
		}
		if opt.Progress != nil {
			opt.Progress(end, len(imgs))
		}
	}
	return nil
}

func decodeFile(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return vit.DecodeImage(f)
}

// SearchText finds the k entries of ix most similar to a text (k ≤ 0: all).
func (m *Model) SearchText(ctx context.Context, ix *Index, query string, k int) ([]Match, error) {
	if err := m.CheckIndex(ix); err != nil {
		return nil, err
	}
	e, err := m.EmbedTexts(ctx, []string{query})
	if err != nil {
		return nil, err
	}
	return ix.Search(e[0], k)
}

// SearchImage finds the k entries of ix most similar to an image (k ≤ 0:
// all).
func (m *Model) SearchImage(ctx context.Context, ix *Index, img image.Image, k int) ([]Match, error) {
	if err := m.CheckIndex(ix); err != nil {
		return nil, err
	}
	e, err := m.EmbedImages(ctx, []image.Image{img})
	if err != nil {
		return nil, err
	}
	return ix.Search(e[0], k)
}
