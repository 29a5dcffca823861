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

	"github.com/goformer/goformer/imageproc"
	"github.com/goformer/goformer/tensor"
)

// Index file format, version 2. All integers and floats are little-endian.
//
//	offset  size        field
//	0       8           magic "GFCLIPIX"
//	8       4           format version (uint32) = 2
//	12      4           embedding dimension D (uint32)
//	16      8           number of entries N (uint64)
//	24      32          model fingerprint: SHA-256 of the model's dimensions,
//	                    projection weights and logit scale (Model.Fingerprint)
//	56      8           byte length L of the ids section (uint64)
//	64      N·D·4       embeddings, float32, unit L2 norm, one row per entry
//	64+N·D·4  L         ids: per entry a uint32 byte length and the bytes
//	…       4           flags (uint32): bit 0, the folder was indexed
//	                    recursively
//	…       4           byte length R of the root (uint32)
//	…       R           root: the absolute folder the index was built from,
//	                    or empty
//	…       N·16        per entry, the file's size in bytes (int64, −1 when
//	                    the entry is no file) and modification time (int64,
//	                    Unix nanoseconds)
//	end−4   4           CRC-32 (IEEE) of every preceding byte
//
// Version 1 (goformer before the root was recorded) ends after the ids; it
// is read with no root and no file information, so Model.OpenIndex and
// UpdateIndex refuse it (ErrIndexRoot) and it must be rebuilt to be kept
// up to date. Readers check the magic, the version, that the sizes add up
// to the file's length exactly, the checksum, and that every value is
// finite; Model.LoadIndex also checks the dimension and fingerprint against
// the model.
const (
	indexMagic      = "GFCLIPIX"
	indexVersion    = 2
	indexHeaderSize = 64
	maxIndexDim     = 1 << 16
	maxIndexIDLen   = 1 << 16
	maxIndexRootLen = 1 << 16
	indexRecursive  = 1 // flags bit: the folder was indexed recursively
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

// Index is a set of unit-norm embeddings with string ids (absolute image
// paths, as IndexFiles and IndexDir make them), searched by cosine
// similarity. It records the fingerprint of the model that made it and, when
// IndexDir made it, the folder it indexed (Root) and each file's size and
// modification time, so that UpdateIndex re-embeds only what changed.
// Concurrent searches are safe; adding or updating entries is not safe
// concurrently with other use.
type Index struct {
	dim   int
	model [32]byte
	ids   []string
	vecs  []float32 // len(ids)·dim
	// files holds, per entry, the size and modification time of the file
	// it was embedded from (size −1: not a file).
	files []fileStamp
	// root is the absolute folder IndexDir indexed ("" for other indexes);
	// recursive tells whether its subfolders were.
	root      string
	recursive bool
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
	ix.files = append(ix.files, fileStamp{size: -1})
	return nil
}

// Search returns the k entries most similar to query (any non-zero vector
// of the index's dimension), best first; ties keep entry order. k ≤ 0 or
// beyond Len returns every entry.
//
//goformer:host a search over embeddings kept in host memory
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
	var flags uint32
	if ix.recursive {
		flags |= indexRecursive
	}
	buf = binary.LittleEndian.AppendUint32(buf, flags)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(ix.root)))
	buf = append(buf, ix.root...)
	for i := range ix.ids {
		st := ix.stamp(i)
		buf = binary.LittleEndian.AppendUint64(buf, uint64(st.size))
		buf = binary.LittleEndian.AppendUint64(buf, uint64(st.mtime))
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
	version := binary.LittleEndian.Uint32(b[8:])
	if version != 1 && version != indexVersion {
		return bad("format version %d (this build reads versions 1 and %d)", version, indexVersion)
	}
	dim := uint64(binary.LittleEndian.Uint32(b[12:]))
	n := binary.LittleEndian.Uint64(b[16:])
	idsLen := binary.LittleEndian.Uint64(b[56:])
	if dim == 0 || dim > maxIndexDim {
		return bad("dimension %d", dim)
	}
	size := uint64(len(b))
	body := size - indexHeaderSize - 4
	if n > body/(dim*4) || idsLen > body-n*dim*4 {
		return bad("header says %d entries of dimension %d and %d bytes of ids, but the file has %d bytes (truncated or altered)", n, dim, idsLen, size)
	}
	// What follows the ids: nothing in version 1; in version 2 the flags,
	// the root and N file stamps.
	rest := body - n*dim*4 - idsLen
	var rootLen uint64
	if version == 1 {
		if rest != 0 {
			return bad("%d bytes after the ids of a version 1 index", rest)
		}
	} else {
		if rest < 8 || n > (rest-8)/16 {
			return bad("header says %d entries, but the file has %d bytes (truncated or altered)", n, size)
		}
		rootLen = rest - 8 - 16*n
		if rootLen > maxIndexRootLen {
			return bad("root of %d bytes (truncated or altered)", rootLen)
		}
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
	end := indexHeaderSize + n*dim*4 + idsLen
	ib := b[indexHeaderSize+n*dim*4 : end]
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
	ix.files = make([]fileStamp, n)
	if version == 1 {
		for i := range ix.files {
			ix.files[i].size = -1
		}
		return ix, nil
	}
	mb := b[end : size-4]
	flags := binary.LittleEndian.Uint32(mb)
	if flags&^indexRecursive != 0 {
		return bad("unknown flags %#x", flags)
	}
	ix.recursive = flags&indexRecursive != 0
	if l := uint64(binary.LittleEndian.Uint32(mb[4:])); l != rootLen {
		return bad("root of %d bytes where %d remain (truncated or altered)", l, rootLen)
	}
	ix.root = string(mb[8 : 8+rootLen])
	if ix.root != "" && !filepath.IsAbs(ix.root) {
		return bad("root %q is not an absolute path", ix.root)
	}
	sb := mb[8+rootLen:]
	for i := range ix.files {
		ix.files[i] = fileStamp{
			size:  int64(binary.LittleEndian.Uint64(sb[16*i:])),
			mtime: int64(binary.LittleEndian.Uint64(sb[16*i+8:])),
		}
		if ix.files[i].size < -1 {
			return bad("entry %d has file size %d", i, ix.files[i].size)
		}
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
// ImageExtensions) in lexical order, with their absolute paths as ids. The
// index records dir's absolute path (Root), whether subfolders were
// indexed, and each file's size and modification time (see UpdateIndex and
// OpenIndex).
func (m *Model) IndexDir(ctx context.Context, dir string, opt IndexOptions) (*Index, error) {
	root, paths, err := scanDir(dir, opt.Recursive)
	if err != nil {
		return nil, err
	}
	ix, err := m.IndexFiles(ctx, paths, opt)
	if err != nil {
		return nil, err
	}
	ix.root, ix.recursive = root, opt.Recursive
	return ix, nil
}

// scanDir lists the image files of dir (by extension, see ImageExtensions)
// in lexical order, as absolute paths, descending into subfolders when
// recursive.
func scanDir(dir string, recursive bool) (root string, paths []string, err error) {
	root = absPath(dir)
	st, err := os.Stat(root)
	if err != nil {
		return "", nil, fmt.Errorf("clip: index %s: %w", dir, err)
	}
	if !st.IsDir() {
		return "", nil, fmt.Errorf("%w: index %s: not a folder", ErrInput, dir)
	}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != root && !recursive {
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
		return "", nil, fmt.Errorf("clip: index %s: %w", dir, err)
	}
	return root, paths, nil
}

// IndexFiles embeds image files into a new index, with their absolute
// paths as ids.
func (m *Model) IndexFiles(ctx context.Context, paths []string, opt IndexOptions) (*Index, error) {
	ix := m.NewIndex()
	if err := m.AddFiles(ctx, ix, paths, opt); err != nil {
		return nil, err
	}
	return ix, nil
}

// AddFiles embeds image files in batches and appends them to ix, with
// their absolute paths as ids and their sizes and modification times. On
// error the entries of completed batches stay in ix.
func (m *Model) AddFiles(ctx context.Context, ix *Index, paths []string, opt IndexOptions) error {
	if err := m.CheckIndex(ix); err != nil {
		return err
	}
	return m.embedFiles(ctx, paths, opt, func(path string, stamp fileStamp, e []float32) error {
		if err := ix.Add(path, e); err != nil {
			return err
		}
		ix.files[len(ix.files)-1] = stamp
		return nil
	})
}

// embedFiles embeds image files in batches (the files decoded in parallel)
// and hands each one's absolute path, stamp and embedding to add, in order.
// Files that fail to decode go to opt.OnError.
func (m *Model) embedFiles(ctx context.Context, paths []string, opt IndexOptions, add func(path string, stamp fileStamp, e []float32) error) error {
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
		stamps := make([]fileStamp, len(batch))
		errs := make([]error, len(batch))
		var wg sync.WaitGroup
		sem := make(chan struct{}, max(tensor.Threads(), 1))
		for i, p := range batch {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				imgs[i], stamps[i], errs[i] = decodeStamped(p)
			}()
		}
		wg.Wait()
		var ids []string
		var ok []image.Image
		var okStamps []fileStamp
		for i, p := range batch {
			if errs[i] == nil {
				ids = append(ids, absPath(p))
				ok = append(ok, imgs[i])
				okStamps = append(okStamps, stamps[i])
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
				if err := add(ids[i], okStamps[i], e); err != nil {
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
	img, _, err := decodeStamped(path)
	return img, err
}

// decodeStamped decodes an image file and returns the size and
// modification time it had when opened.
func decodeStamped(path string) (image.Image, fileStamp, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fileStamp{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fileStamp{}, err
	}
	img, err := imageproc.Decode(f)
	return img, stampOf(st), err
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
