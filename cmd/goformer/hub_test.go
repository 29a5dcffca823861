package main

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeHub serves a local model directory as the Hub repository id, with the
// API and resolve endpoints huggingface_hub uses.
func fakeHub(t *testing.T, id, dir string) *httptest.Server {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	const commit = "0123456789abcdef0123456789abcdef01234567"
	var siblings []map[string]string
	for _, e := range entries {
		siblings = append(siblings, map[string]string{"rfilename": e.Name()})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/models/"+id+"/revision/main", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"sha": commit, "siblings": siblings})
	})
	mux.HandleFunc("/"+id+"/resolve/{rev}/{file}", func(w http.ResponseWriter, r *http.Request) {
		data, err := os.ReadFile(filepath.Join(dir, r.PathValue("file")))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		sum := sha1.Sum(data)
		w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:])+`"`)
		w.Header().Set("X-Repo-Commit", commit)
		http.ServeContent(w, r, r.PathValue("file"), time.Time{}, bytes.NewReader(data))
	})
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return ts
}

func TestModelByHubID(t *testing.T) {
	// -model takes a Hub id: the model is downloaded into the Hugging Face
	// cache layout, then used from the cache offline.
	const id = "goformer-test/vit-tiny"
	local := mustRun(t, "classify", "-model", fixtureModel(t, "vit"), imagePath(t, "chelsea.png"))
	hubSrv := fakeHub(t, id, fixtureModel(t, "vit"))
	cache := t.TempDir()
	t.Setenv("HF_ENDPOINT", hubSrv.URL)
	t.Setenv("HF_HUB_CACHE", cache)
	t.Setenv("HF_TOKEN", "")
	t.Setenv("HF_HUB_OFFLINE", "")
	if got := mustRun(t, "classify", "-model", id, imagePath(t, "chelsea.png")); got != local {
		t.Errorf("from the Hub %q, from the directory %q", got, local)
	}
	snap := filepath.Join(cache, "models--goformer-test--vit-tiny", "snapshots")
	if _, err := os.Stat(snap); err != nil {
		t.Fatalf("no snapshot in the cache: %v", err)
	}
	hubSrv.Close()
	t.Setenv("HF_HUB_OFFLINE", "1")
	if got := mustRun(t, "classify", "-model", id, imagePath(t, "chelsea.png")); got != local {
		t.Errorf("offline from the cache %q, want %q", got, local)
	}
	_, stderr, code := runCLI(t, "classify", "-model", "goformer-test/not-there", imagePath(t, "chelsea.png"))
	if code != exitError {
		t.Errorf("missing repository: exit %d", code)
	}
	oneErrorLine(t, stderr, "goformer-test/not-there")
	if strings.Contains(stderr, "\n\n") {
		t.Errorf("stderr %q", stderr)
	}
}
