package hub

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeHub imitates the Hub's API listing and resolve endpoints: small files
// answer directly with an ETag; LFS files redirect to a CDN path with
// X-Linked-Etag (sha256) and X-Linked-Size; gated repositories need a token.
type fakeHub struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	repos  map[string]map[string][]byte // id → file → content
	commit string
	gated  map[string]bool
	// cutOnce makes the next CDN download stop half-way.
	cutOnce bool
	// corrupt makes the CDN serve wrong bytes of the right size.
	corrupt bool
	gets    map[string]int
	ranges  []string
}

func newFakeHub(t *testing.T) *fakeHub {
	h := &fakeHub{t: t, repos: map[string]map[string][]byte{}, gated: map[string]bool{}, gets: map[string]int{},
		commit: strings.Repeat("ab", 20)}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.srv.Close)
	return h
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func isLFS(name string) bool {
	return strings.HasSuffix(name, ".safetensors") || strings.HasSuffix(name, ".bin")
}

func (h *fakeHub) serve(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := r.URL.Path
	if strings.HasPrefix(p, "/cdn/") {
		h.gets[p]++
		if rg := r.Header.Get("Range"); rg != "" {
			h.ranges = append(h.ranges, rg)
		}
		sum := strings.TrimPrefix(p, "/cdn/")
		for _, files := range h.repos {
			for _, content := range files {
				if sha(content) != sum {
					continue
				}
				body := content
				if h.corrupt {
					body = append([]byte(nil), content...)
					body[0] ^= 0xff
				}
				if h.cutOnce && r.Header.Get("Range") == "" {
					h.cutOnce = false
					w.Header().Set("Content-Length", fmt.Sprint(len(body)))
					w.WriteHeader(200)
					w.Write(body[:len(body)/2])
					// Drop the connection mid-body.
					hj, _ := w.(http.Hijacker)
					conn, _, _ := hj.Hijack()
					conn.Close()
					return
				}
				http.ServeContent(w, r, "blob", time.Time{}, strings.NewReader(string(body)))
				return
			}
		}
		http.NotFound(w, r)
		return
	}
	if strings.HasPrefix(p, "/api/models/") {
		rest := strings.TrimPrefix(p, "/api/models/")
		i := strings.Index(rest, "/revision/")
		id := rest[:i]
		files, ok := h.repo(w, r, id, "not found")
		if !ok {
			return
		}
		var sib []map[string]string
		for f := range files {
			sib = append(sib, map[string]string{"rfilename": f})
		}
		json.NewEncoder(w).Encode(map[string]any{"sha": h.commit, "siblings": sib})
		return
	}
	// /{org}/{name}/resolve/{rev}/{file}
	parts := strings.SplitN(strings.TrimPrefix(p, "/"), "/", 5)
	if len(parts) < 5 || parts[2] != "resolve" {
		http.NotFound(w, r)
		return
	}
	id, file := parts[0]+"/"+parts[1], parts[4]
	files, ok := h.repo(w, r, id, "repo not found")
	if !ok {
		return
	}
	content, ok := files[file]
	if !ok {
		http.Error(w, "entry not found", 404)
		return
	}
	w.Header().Set("X-Repo-Commit", h.commit)
	if isLFS(file) {
		w.Header().Set("X-Linked-Etag", `"`+sha(content)+`"`)
		w.Header().Set("X-Linked-Size", fmt.Sprint(len(content)))
		w.Header().Set("ETag", `"gitsha-`+file+`"`)
		w.Header().Set("Location", "/cdn/"+sha(content))
		w.WriteHeader(http.StatusFound)
		return
	}
	h.gets[p]++
	w.Header().Set("ETag", fmt.Sprintf(`"%x"`, sha256.Sum256(content))[:20]+`"`)
	w.Header().Set("Content-Length", fmt.Sprint(len(content)))
	if r.Method == http.MethodHead {
		return
	}
	w.Write(content)
}

// repo returns the files of repository id, or answers 404 (with notFound)
// when there is none and 401 when it is gated and the request has no token.
func (h *fakeHub) repo(w http.ResponseWriter, r *http.Request, id, notFound string) (map[string][]byte, bool) {
	files, ok := h.repos[id]
	if !ok {
		http.Error(w, notFound, 404)
		return nil, false
	}
	if h.gated[id] && r.Header.Get("Authorization") != "Bearer secret" {
		http.Error(w, "gated", 401)
		return nil, false
	}
	return files, true
}

func (h *fakeHub) client(t *testing.T) *Client {
	return &Client{Endpoint: h.srv.URL, CacheDir: t.TempDir(), HTTP: h.srv.Client()}
}

func modelRepo() map[string][]byte {
	weights := make([]byte, 100_000)
	for i := range weights {
		weights[i] = byte(i * 7)
	}
	return map[string][]byte{
		"config.json":              []byte(`{"architectures":["ViTForImageClassification"]}`),
		"preprocessor_config.json": []byte(`{"do_resize":true}`),
		"model.safetensors":        weights,
		"pytorch_model.bin":        []byte("should not be fetched"),
		"README.md":                []byte("# readme"),
		"flax_model.msgpack":       []byte("nope"),
	}
}

func TestDownloadCacheLayoutAndCacheHit(t *testing.T) {
	h := newFakeHub(t)
	h.repos["org/model"] = modelRepo()
	c := h.client(t)
	var progressCalls int
	c.Progress = func(string, int64, int64) { progressCalls++ }
	dir, err := c.Resolve(context.Background(), "org/model@main")
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(c.CacheDir, "models--org--model", "snapshots", h.commit)
	if dir != want {
		t.Fatalf("snapshot dir %s, want %s", dir, want)
	}
	for name, content := range modelRepo() {
		b, err := os.ReadFile(filepath.Join(dir, name))
		fetched := name == "config.json" || name == "preprocessor_config.json" || name == "model.safetensors"
		if fetched && (err != nil || string(b) != string(content)) {
			t.Fatalf("%s: %v", name, err)
		}
		if !fetched && err == nil {
			t.Fatalf("%s was fetched but a model does not need it", name)
		}
	}
	// layout: symlink into blobs named by the sha256 for LFS; refs/main = commit
	target, err := os.Readlink(filepath.Join(dir, "model.safetensors"))
	if err != nil || target != filepath.Join("..", "..", "blobs", sha(modelRepo()["model.safetensors"])) {
		t.Fatalf("symlink %q: %v", target, err)
	}
	ref, _ := os.ReadFile(filepath.Join(c.CacheDir, "models--org--model", "refs", "main"))
	if string(ref) != h.commit {
		t.Fatalf("refs/main = %q", ref)
	}
	if progressCalls == 0 {
		t.Fatal("no progress reported")
	}
	// second resolve: no content fetched again
	before := h.gets["/cdn/"+sha(modelRepo()["model.safetensors"])]
	if _, err := c.Resolve(context.Background(), "org/model"); err != nil {
		t.Fatal(err)
	}
	if after := h.gets["/cdn/"+sha(modelRepo()["model.safetensors"])]; after != before {
		t.Fatalf("cache hit downloaded again (%d → %d)", before, after)
	}
	// offline: served from the cache; unknown repo refused
	c.Offline = true
	if d, err := c.Resolve(context.Background(), "org/model"); err != nil || d != dir {
		t.Fatalf("offline: %s %v", d, err)
	}
	if _, err := c.Resolve(context.Background(), "org/other"); !errors.Is(err, ErrOffline) {
		t.Fatalf("offline miss: %v", err)
	}
	// a local directory works as an id
	if d, err := c.Resolve(context.Background(), dir); err != nil || d != dir {
		t.Fatalf("local dir: %v", err)
	}
}

func TestResumeAfterCutConnection(t *testing.T) {
	h := newFakeHub(t)
	h.repos["org/model"] = modelRepo()
	h.cutOnce = true
	c := h.client(t)
	_, err := c.Resolve(context.Background(), "org/model")
	if err == nil {
		t.Fatal("cut connection went unnoticed")
	}
	part := filepath.Join(c.CacheDir, "models--org--model", "blobs", sha(modelRepo()["model.safetensors"])+".incomplete")
	st, serr := os.Stat(part)
	if serr != nil || st.Size() == 0 {
		t.Fatalf("no partial download kept: %v", serr)
	}
	dir, err := c.Resolve(context.Background(), "org/model")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "model.safetensors"))
	if sha(b) != sha(modelRepo()["model.safetensors"]) {
		t.Fatal("resumed file differs")
	}
	if len(h.ranges) == 0 || h.ranges[len(h.ranges)-1] != fmt.Sprintf("bytes=%d-", st.Size()) {
		t.Fatalf("resume did not ask for the rest: %v", h.ranges)
	}
}

func TestChecksumMismatchRefused(t *testing.T) {
	h := newFakeHub(t)
	h.repos["org/model"] = modelRepo()
	h.corrupt = true
	c := h.client(t)
	_, err := c.Resolve(context.Background(), "org/model")
	if !errors.Is(err, ErrChecksum) {
		t.Fatalf("want ErrChecksum, got %v", err)
	}
	blob := filepath.Join(c.CacheDir, "models--org--model", "blobs", sha(modelRepo()["model.safetensors"]))
	if _, err := os.Stat(blob); err == nil {
		t.Fatal("corrupt blob was kept")
	}
}

func TestGatedAndMissing(t *testing.T) {
	h := newFakeHub(t)
	h.repos["org/gated"] = modelRepo()
	h.gated["org/gated"] = true
	c := h.client(t)
	if _, err := c.Resolve(context.Background(), "org/gated"); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("gated without token: %v", err)
	}
	c.Token = "secret"
	if _, err := c.Resolve(context.Background(), "org/gated"); err != nil {
		t.Fatalf("gated with token: %v", err)
	}
	if _, err := c.Resolve(context.Background(), "org/absent"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing repo: %v", err)
	}
	if _, err := c.Download(context.Background(), "org/gated", "main", "nope.json"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing file: %v", err)
	}
	if _, err := c.Download(context.Background(), "org/gated", "main", "../../etc/passwd"); err == nil {
		t.Fatal("path traversal accepted")
	}
}

func TestShardedIndexFetchesShards(t *testing.T) {
	h := newFakeHub(t)
	idx, _ := json.Marshal(map[string]any{"weight_map": map[string]string{"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}})
	h.repos["org/big"] = map[string][]byte{
		"config.json":                      []byte(`{}`),
		"model.safetensors.index.json":     idx,
		"model-00001-of-00002.safetensors": []byte("shard one"),
		"model-00002-of-00002.safetensors": []byte("shard two"),
	}
	c := h.client(t)
	dir, err := c.Resolve(context.Background(), "org/big")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("shard %s not fetched", f)
		}
	}
}

func TestParseID(t *testing.T) {
	for in, want := range map[string][2]string{
		"openai/whisper-base":           {"openai/whisper-base", "main"},
		"Salesforce/blip-vqa-base@main": {"Salesforce/blip-vqa-base", "main"},
		"gpt2@v1.0":                     {"gpt2", "v1.0"},
	} {
		id, rev, err := ParseID(in)
		if err != nil || id != want[0] || rev != want[1] {
			t.Fatalf("ParseID(%q) = %q %q %v", in, id, rev, err)
		}
	}
	for _, bad := range []string{"", "a/b/c", "../x", "org/na me", "org/x@"} {
		if _, _, err := ParseID(bad); !errors.Is(err, ErrBadID) {
			t.Fatalf("ParseID(%q) accepted", bad)
		}
	}
}

func TestEnvironment(t *testing.T) {
	t.Setenv("HF_HOME", "/tmp/hfhome")
	t.Setenv("HF_HUB_CACHE", "")
	t.Setenv("HF_ENDPOINT", "http://127.0.0.1:1/")
	t.Setenv("HF_HUB_OFFLINE", "1")
	t.Setenv("HF_TOKEN", "tok")
	c := New()
	if c.CacheDir != "/tmp/hfhome/hub" || c.Endpoint != "http://127.0.0.1:1" || !c.Offline || c.Token != "tok" {
		t.Fatalf("%+v", c)
	}
	t.Setenv("HF_HUB_CACHE", "/tmp/cache2")
	if DefaultCacheDir() != "/tmp/cache2" {
		t.Fatal("HF_HUB_CACHE ignored")
	}
}
