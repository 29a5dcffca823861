package infer

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"path"
	"strings"
	"sync"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	// Local paths are always readable and writable.
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"
)

// maxInputBytes bounds what one input file may take in memory.
const maxInputBytes = 4 << 30

// fileSystems opens Beam file systems by scheme and keeps them for the life
// of a DoFn instance (a GCS or S3 file system holds a client).
type fileSystems struct {
	mu  sync.Mutex
	fss map[string]filesystem.Interface
}

func scheme(p string) string {
	if i := strings.Index(p, "://"); i > 0 {
		return p[:i]
	}
	return ""
}

func (f *fileSystems) get(ctx context.Context, p string) (filesystem.Interface, error) {
	s := scheme(p)
	f.mu.Lock()
	defer f.mu.Unlock()
	if fs, ok := f.fss[s]; ok {
		return fs, nil
	}
	fs, err := filesystem.New(ctx, p)
	if err != nil {
		return nil, err
	}
	if f.fss == nil {
		f.fss = map[string]filesystem.Interface{}
	}
	f.fss[s] = fs
	return fs, nil
}

func (f *fileSystems) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, fs := range f.fss {
		fs.Close()
	}
	f.fss = nil
}

// read returns the contents of the file p.
func (f *fileSystems) read(ctx context.Context, p string) ([]byte, error) {
	fs, err := f.get(ctx, p)
	if err != nil {
		return nil, err
	}
	r, err := fs.OpenRead(ctx, p)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, maxInputBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxInputBytes {
		return nil, fmt.Errorf("larger than %d bytes", maxInputBytes)
	}
	return b, nil
}

// writeAtomic writes data to name: to a temporary file beside it first,
// then renamed over name, so that readers never see a partial file and a
// retried write replaces the first instead of adding to it.
func (f *fileSystems) writeAtomic(ctx context.Context, name string, data []byte) error {
	fs, err := f.get(ctx, name)
	if err != nil {
		return err
	}
	var r [8]byte
	rand.Read(r[:])
	tmp := name + ".tmp-" + hex.EncodeToString(r[:])
	w, err := fs.OpenWrite(ctx, tmp)
	if err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	_, err = w.Write(data)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = filesystem.Rename(ctx, fs, tmp, name)
	}
	if err != nil {
		if rm, ok := fs.(filesystem.Remover); ok {
			rm.Remove(ctx, tmp)
		}
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}

// joinPath joins an output prefix (a folder, local or a URI such as
// gs://bucket/out) and a file name.
func joinPath(prefix, name string) string {
	if prefix == "" || strings.HasSuffix(prefix, "/") {
		return prefix + name
	}
	return prefix + "/" + name
}

// outputName is the name of a per-input output file: the input's base name
// (without extension, for people) and the first 16 hex digits of the
// SHA-256 of the whole input path (for uniqueness), so that the same input
// always gets the same file and a retry overwrites it.
func outputName(input, ext string) string {
	base := input
	if i := strings.LastIndexAny(base, "/\\"); i >= 0 {
		base = base[i+1:]
	}
	base = strings.TrimSuffix(base, path.Ext(base))
	var b strings.Builder
	for _, r := range base {
		if r == '-' || r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
		if b.Len() >= 64 {
			break
		}
	}
	sum := sha256.Sum256([]byte(input))
	return b.String() + "-" + hex.EncodeToString(sum[:8]) + "." + ext
}

// shardName is the name of shard i of n of a sharded output.
func shardName(name string, i, n int, ext string) string {
	return fmt.Sprintf("%s-%05d-of-%05d.%s", name, i, n, ext)
}
