// Package hub fetches model repositories from the HuggingFace Hub into the
// same cache layout as Python's huggingface_hub, so Go and Python share
// downloads:
//
//	$HF_HUB_CACHE (or $HF_HOME/hub, or ~/.cache/huggingface/hub)
//	  models--org--name/
//	    refs/<revision>            commit hash the revision pointed to
//	    blobs/<etag>               file contents (sha256 for LFS files)
//	    snapshots/<commit>/<file>  relative symlink to ../../blobs/<etag>
//
// It honours HF_ENDPOINT, HF_TOKEN (or the token file in HF_HOME) and
// HF_HUB_OFFLINE=1. Downloads resume from a partial ".incomplete" blob, are
// checked against the size the Hub announces and, for LFS files, against
// their sha256. A local directory works everywhere a model id does.
package hub

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Errors a caller can branch on with errors.Is.
var (
	ErrNotFound     = errors.New("hub: repository or file not found")
	ErrUnauthorized = errors.New("hub: access denied (gated or private repository: set HF_TOKEN)")
	ErrOffline      = errors.New("hub: offline mode and not in the cache")
	ErrChecksum     = errors.New("hub: downloaded file does not match its checksum")
	ErrBadID        = errors.New("hub: invalid repository id")
)

// Progress reports bytes of one file: done so far of total (−1 if unknown).
type Progress func(file string, done, total int64)

// Client downloads from a Hub endpoint into a cache directory. The zero
// value is not usable; call New. A Client is safe for concurrent use, but two
// processes downloading the same blob at once may both do the work.
type Client struct {
	Endpoint string // e.g. https://huggingface.co (no trailing slash)
	CacheDir string // the hub cache root
	Token    string // bearer token; empty for public repositories
	Offline  bool   // never touch the network
	HTTP     *http.Client
	Progress Progress
}

// New returns a client configured from the environment: HF_ENDPOINT,
// HF_HUB_CACHE / HF_HOME, HF_TOKEN (or $HF_HOME/token), HF_HUB_OFFLINE.
func New() *Client {
	c := &Client{
		Endpoint: strings.TrimRight(envOr("HF_ENDPOINT", "https://huggingface.co"), "/"),
		CacheDir: DefaultCacheDir(),
		Token:    os.Getenv("HF_TOKEN"),
		Offline:  truthy(os.Getenv("HF_HUB_OFFLINE")),
		HTTP:     &http.Client{Timeout: 0},
	}
	if c.Token == "" {
		if b, err := os.ReadFile(filepath.Join(hfHome(), "token")); err == nil {
			c.Token = strings.TrimSpace(string(b))
		}
	}
	return c
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func truthy(v string) bool {
	switch strings.ToLower(v) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

func hfHome() string {
	if h := os.Getenv("HF_HOME"); h != "" {
		return h
	}
	if x := os.Getenv("XDG_CACHE_HOME"); x != "" {
		return filepath.Join(x, "huggingface")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "huggingface")
}

// DefaultCacheDir is $HF_HUB_CACHE, else $HF_HOME/hub, else
// ~/.cache/huggingface/hub.
func DefaultCacheDir() string {
	if c := os.Getenv("HF_HUB_CACHE"); c != "" {
		return c
	}
	return filepath.Join(hfHome(), "hub")
}

var repoIDRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$`)

// ParseID splits "org/name@revision" into id and revision ("main" when
// absent) and validates the id.
func ParseID(s string) (id, revision string, err error) {
	id, revision = s, "main"
	if i := strings.LastIndex(s, "@"); i >= 0 {
		id, revision = s[:i], s[i+1:]
	}
	if !repoIDRe.MatchString(id) || strings.Contains(id, "..") || revision == "" || strings.ContainsAny(revision, "\\") || strings.Contains(revision, "..") {
		return "", "", fmt.Errorf("%w: %q", ErrBadID, s)
	}
	return id, revision, nil
}

// repoDir is the cache folder of a model repository.
func (c *Client) repoDir(id string) string {
	return filepath.Join(c.CacheDir, "models--"+strings.ReplaceAll(id, "/", "--"))
}

// Resolve returns a local directory holding the model: idOrPath itself when
// it is an existing directory, else the snapshot of a Hub repository
// ("org/name" or "org/name@revision"), downloading what a model needs
// (see ModelFiles) unless it is cached.
func (c *Client) Resolve(ctx context.Context, idOrPath string) (string, error) {
	if st, err := os.Stat(idOrPath); err == nil && st.IsDir() {
		return idOrPath, nil
	}
	id, rev, err := ParseID(idOrPath)
	if err != nil {
		if strings.HasPrefix(idOrPath, ".") || strings.HasPrefix(idOrPath, "/") {
			return "", fmt.Errorf("%s: not a directory and not a Hub id: %w", idOrPath, os.ErrNotExist)
		}
		return "", err
	}
	return c.Snapshot(ctx, id, rev, ModelFiles)
}

// Resolve is New().Resolve.
func Resolve(ctx context.Context, idOrPath string) (string, error) {
	return New().Resolve(ctx, idOrPath)
}

// ModelFiles chooses what a model needs from a repository listing: configs,
// tokenizer and processor files, and one set of weights (safetensors, single
// or sharded, preferred over PyTorch .bin). It returns names in listing
// order; the shards of an index are added by Snapshot once the index is read.
func ModelFiles(listing []string) []string {
	want := map[string]bool{
		"config.json": true, "generation_config.json": true, "preprocessor_config.json": true,
		"tokenizer.json": true, "tokenizer_config.json": true, "special_tokens_map.json": true,
		"added_tokens.json": true, "vocab.json": true, "merges.txt": true, "vocab.txt": true,
		"normalizer.json": true,
	}
	has := map[string]bool{}
	for _, f := range listing {
		has[f] = true
	}
	for _, w := range []string{"model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json"} {
		if has[w] {
			want[w] = true
			break
		}
	}
	var out []string
	for _, f := range listing {
		if want[f] {
			out = append(out, f)
		}
	}
	return out
}

// Snapshot makes the files chosen by pick (from the repository listing)
// available under snapshots/<commit> and returns that directory. In offline
// mode, or when the Hub cannot be reached, a complete cached snapshot of the
// revision is used.
func (c *Client) Snapshot(ctx context.Context, id, revision string, pick func([]string) []string) (string, error) {
	if c.Offline {
		return c.cachedSnapshot(id, revision)
	}
	commit, listing, err := c.listing(ctx, id, revision)
	var cached errUseCache
	if errors.As(err, &cached) {
		return cached.dir, nil
	}
	if err != nil {
		return "", err
	}
	files := pick(listing)
	if len(files) == 0 {
		return "", fmt.Errorf("%w: %s@%s has none of the files a model needs", ErrNotFound, id, revision)
	}
	for i := 0; i < len(files); i++ {
		f := files[i]
		if _, err := c.Download(ctx, id, commit, f); err != nil {
			return "", err
		}
		if strings.HasSuffix(f, ".index.json") {
			shards, err := indexShards(filepath.Join(c.repoDir(id), "snapshots", commit, f))
			if err != nil {
				return "", err
			}
			files = append(files, shards...)
		}
	}
	if err := c.writeRef(id, revision, commit); err != nil {
		return "", err
	}
	return filepath.Join(c.repoDir(id), "snapshots", commit), nil
}

func indexShards(path string) ([]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(raw, &idx); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	seen := map[string]bool{}
	var out []string
	for _, f := range idx.WeightMap {
		if !seen[f] {
			if err := checkFileName(f); err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			seen[f] = true
			out = append(out, f)
		}
	}
	return out, nil
}

func checkFileName(f string) error {
	if f == "" || strings.HasPrefix(f, "/") || strings.Contains(f, "\\") {
		return fmt.Errorf("hub: bad file name %q", f)
	}
	for _, part := range strings.Split(f, "/") {
		if part == ".." || part == "." || part == "" {
			return fmt.Errorf("hub: bad file name %q", f)
		}
	}
	return nil
}

func (c *Client) cachedSnapshot(id, revision string) (string, error) {
	commit := revision
	if b, err := os.ReadFile(filepath.Join(c.repoDir(id), "refs", revision)); err == nil {
		commit = strings.TrimSpace(string(b))
	}
	dir := filepath.Join(c.repoDir(id), "snapshots", commit)
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err != nil {
		return "", fmt.Errorf("%w: %s@%s (looked in %s)", ErrOffline, id, revision, dir)
	}
	return dir, nil
}

func (c *Client) writeRef(id, revision, commit string) error {
	if revision == commit {
		return nil
	}
	p := filepath.Join(c.repoDir(id), "refs", filepath.FromSlash(revision))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, []byte(commit), 0o644)
}

func (c *Client) newRequest(ctx context.Context, method, u string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "goformer/1 (go)")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	return req, nil
}

func statusErr(resp *http.Response, what string) error {
	switch resp.StatusCode {
	case http.StatusNotFound:
		return fmt.Errorf("%w: %s", ErrNotFound, what)
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Errorf("%w: %s (HTTP %d)", ErrUnauthorized, what, resp.StatusCode)
	}
	return fmt.Errorf("hub: %s: HTTP %s", what, resp.Status)
}

// listing returns the commit a revision points to and the repository's file
// names, from the Hub API.
func (c *Client) listing(ctx context.Context, id, revision string) (string, []string, error) {
	u := fmt.Sprintf("%s/api/models/%s/revision/%s", c.Endpoint, id, url.PathEscape(revision))
	req, err := c.newRequest(ctx, http.MethodGet, u)
	if err != nil {
		return "", nil, err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		// Unreachable Hub: fall back to the cache like huggingface_hub does.
		if dir, cerr := c.cachedSnapshot(id, revision); cerr == nil {
			return filepath.Base(dir), nil, errUseCache{dir}
		}
		return "", nil, fmt.Errorf("hub: listing %s@%s: %w", id, revision, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", nil, statusErr(resp, id+"@"+revision)
	}
	var info struct {
		SHA      string `json:"sha"`
		Siblings []struct {
			RFilename string `json:"rfilename"`
		} `json:"siblings"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&info); err != nil {
		return "", nil, fmt.Errorf("hub: listing %s@%s: %v", id, revision, err)
	}
	if info.SHA == "" {
		return "", nil, fmt.Errorf("hub: listing %s@%s has no commit sha", id, revision)
	}
	files := make([]string, 0, len(info.Siblings))
	for _, s := range info.Siblings {
		files = append(files, s.RFilename)
	}
	return info.SHA, files, nil
}

type errUseCache struct{ dir string }

func (e errUseCache) Error() string { return "use cache " + e.dir }

// fileMeta is what a HEAD on the resolve endpoint tells about a file.
type fileMeta struct {
	commit string
	etag   string
	size   int64
	lfs    bool
	url    string // where to GET the content (after redirects)
}

func normalizeETag(e string) string {
	e = strings.TrimPrefix(e, "W/")
	return strings.Trim(e, `"`)
}

// head asks the resolve endpoint about a file without following the
// redirect, so the X-Linked-* headers of LFS files are visible.
func (c *Client) head(ctx context.Context, id, revision, file string) (*fileMeta, error) {
	u := fmt.Sprintf("%s/%s/resolve/%s/%s", c.Endpoint, id, url.PathEscape(revision), file)
	client := *c.HTTP
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for hops := 0; hops < 5; hops++ {
		req, err := c.newRequest(ctx, http.MethodHead, u)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept-Encoding", "identity")
		resp, err := client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("hub: %s/%s: %w", id, file, err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			loc := resp.Header.Get("Location")
			if loc == "" {
				return nil, fmt.Errorf("hub: %s/%s: redirect without Location", id, file)
			}
			next, err := resp.Request.URL.Parse(loc)
			if err != nil {
				return nil, err
			}
			if resp.Header.Get("X-Linked-Etag") != "" || next.Host != resp.Request.URL.Host {
				// LFS: the metadata is on this response; content lives at next.
				return c.meta(resp, next.String(), id, file)
			}
			u = next.String() // renamed repository: follow
			continue
		}
		if resp.StatusCode != http.StatusOK {
			return nil, statusErr(resp, id+"/"+file)
		}
		return c.meta(resp, u, id, file)
	}
	return nil, fmt.Errorf("hub: %s/%s: too many redirects", id, file)
}

func (c *Client) meta(resp *http.Response, contentURL, id, file string) (*fileMeta, error) {
	m := &fileMeta{commit: resp.Header.Get("X-Repo-Commit"), url: contentURL, size: -1}
	if e := resp.Header.Get("X-Linked-Etag"); e != "" {
		m.etag, m.lfs = normalizeETag(e), true
	} else {
		m.etag = normalizeETag(resp.Header.Get("ETag"))
	}
	sz := resp.Header.Get("X-Linked-Size")
	if sz == "" {
		sz = resp.Header.Get("Content-Length")
	}
	if sz != "" {
		n, err := strconv.ParseInt(sz, 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("hub: %s/%s: bad size header %q", id, file, sz)
		}
		m.size = n
	}
	if m.etag == "" || m.commit == "" {
		return nil, fmt.Errorf("hub: %s/%s: response lacks ETag or X-Repo-Commit (is HF_ENDPOINT a Hub?)", id, file)
	}
	if strings.ContainsAny(m.etag, `/\`) || strings.Contains(m.etag, "..") {
		return nil, fmt.Errorf("hub: %s/%s: bad ETag %q", id, file, m.etag)
	}
	return m, nil
}

// Download fetches one file of a repository at a revision (a commit hash
// or a branch/tag) into the cache and returns its snapshot path. A cached
// file is not fetched again.
func (c *Client) Download(ctx context.Context, id, revision, file string) (string, error) {
	if err := checkFileName(file); err != nil {
		return "", err
	}
	repo := c.repoDir(id)
	if c.Offline {
		dir, err := c.cachedSnapshot(id, revision)
		if err != nil {
			return "", err
		}
		p := filepath.Join(dir, filepath.FromSlash(file))
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%w: %s/%s", ErrOffline, id, file)
		}
		return p, nil
	}
	// A file already in the snapshot of a commit hash never changes.
	if isCommitHash(revision) {
		p := filepath.Join(repo, "snapshots", revision, filepath.FromSlash(file))
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	m, err := c.head(ctx, id, revision, file)
	if err != nil {
		return "", err
	}
	snap := filepath.Join(repo, "snapshots", m.commit, filepath.FromSlash(file))
	blob := filepath.Join(repo, "blobs", m.etag)
	if _, err := os.Stat(blob); err != nil {
		if err := c.fetchBlob(ctx, m, blob, file); err != nil {
			return "", err
		}
	}
	if err := link(blob, snap); err != nil {
		return "", err
	}
	return snap, nil
}

func isCommitHash(s string) bool {
	if len(s) != 40 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// fetchBlob downloads content into blob via blob.incomplete, resuming a
// partial download with a Range request, then verifies size and sha256.
func (c *Client) fetchBlob(ctx context.Context, m *fileMeta, blob, file string) error {
	if err := os.MkdirAll(filepath.Dir(blob), 0o755); err != nil {
		return err
	}
	part := blob + ".incomplete"
	f, err := os.OpenFile(part, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	have, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	if m.size >= 0 && have > m.size {
		if err := f.Truncate(0); err != nil {
			return err
		}
		have, _ = f.Seek(0, io.SeekStart)
	}
	if m.size < 0 || have < m.size {
		req, err := c.newRequest(ctx, http.MethodGet, m.url)
		if err != nil {
			return err
		}
		if have > 0 {
			req.Header.Set("Range", fmt.Sprintf("bytes=%d-", have))
		}
		resp, err := c.HTTP.Do(req)
		if err != nil {
			return fmt.Errorf("hub: downloading %s: %w", file, err)
		}
		defer resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
			if have > 0 { // server ignored the range: start over
				if err := f.Truncate(0); err != nil {
					return err
				}
				if _, err := f.Seek(0, io.SeekStart); err != nil {
					return err
				}
				have = 0
			}
		case http.StatusPartialContent:
		default:
			return statusErr(resp, file)
		}
		var src io.Reader = resp.Body
		if m.size >= 0 {
			src = io.LimitReader(resp.Body, m.size-have+1)
		}
		pw := &progressWriter{w: f, file: file, done: have, total: m.size, fn: c.Progress, last: time.Now()}
		if _, err := io.Copy(pw, src); err != nil {
			// Keep the partial file for a later resume.
			return fmt.Errorf("hub: downloading %s (kept %d bytes for resuming): %w", file, pw.done, err)
		}
		if c.Progress != nil {
			c.Progress(file, pw.done, m.size)
		}
	}
	if err := f.Sync(); err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if m.size >= 0 && st.Size() != m.size {
		if st.Size() > m.size {
			os.Remove(part)
		}
		return fmt.Errorf("%w: %s is %d bytes, the Hub announced %d", ErrChecksum, file, st.Size(), m.size)
	}
	if m.lfs && len(m.etag) == 64 {
		sum, err := sha256File(part)
		if err != nil {
			return err
		}
		if sum != m.etag {
			os.Remove(part)
			return fmt.Errorf("%w: %s has sha256 %s, want %s", ErrChecksum, file, sum, m.etag)
		}
	}
	f.Close()
	return os.Rename(part, blob)
}

func sha256File(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// link points snap at blob with a relative symlink (as huggingface_hub
// does), or copies where symlinks are unavailable.
func link(blob, snap string) error {
	if err := os.MkdirAll(filepath.Dir(snap), 0o755); err != nil {
		return err
	}
	rel, err := filepath.Rel(filepath.Dir(snap), blob)
	if err != nil {
		return err
	}
	if cur, err := os.Readlink(snap); err == nil && cur == rel {
		return nil
	}
	os.Remove(snap)
	if err := os.Symlink(rel, snap); err == nil {
		return nil
	}
	src, err := os.Open(blob)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.Create(snap)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}

type progressWriter struct {
	w           io.Writer
	file        string
	done, total int64
	fn          Progress
	last        time.Time
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.done += int64(n)
	if p.total >= 0 && p.done > p.total {
		return n, fmt.Errorf("%w: more bytes than the announced %d", ErrChecksum, p.total)
	}
	if p.fn != nil && time.Since(p.last) > 100*time.Millisecond {
		p.fn(p.file, p.done, p.total)
		p.last = time.Now()
	}
	return n, err
}
