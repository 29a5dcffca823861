package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/goformer/goformer/internal/testdata"
)

func TestServeLoadingFirst(t *testing.T) {
	// The port answers while the models load: 503 with Retry-After, then
	// the API once they are set.
	s := newServer(nil, serverConfig{})
	ts := httptest.NewServer(s.handler())
	defer ts.Close()
	for _, path := range []string{"/healthz", "/v1/models"} {
		resp := get(t, ts.URL+path)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s while loading: %d %v", path, resp.StatusCode, resp.Header)
		}
	}
	s.setModels(testModels(t))
	resp := get(t, ts.URL+"/healthz")
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz after loading: %d", resp.StatusCode)
	}
}

func TestServeClientConventions(t *testing.T) {
	ts, _ := newTestServer(t, serverConfig{})
	jfk := readFile(t, testdata.Path(t, "media", "audio", "jfk.flac"))
	// Several speech models are loaded: OpenAI's model name still reaches
	// one (the first loaded).
	status, _, body := postForm(t, ts.URL+"/v1/audio/transcriptions", formFile{
		fields: [][2]string{{"model", "whisper-1"}, {"language", "en"}}, fileName: "jfk.flac", file: jfk})
	if status != http.StatusOK {
		t.Errorf("whisper-1 with several speech models: %d %s", status, body)
	}
	// The audio under another field name is named as the mistake it is.
	status, _, body = postForm(t, ts.URL+"/v1/audio/transcriptions", formFile{fields: [][2]string{{"audio", string(jfk)}}})
	if msg := apiErr(t, body); status != http.StatusBadRequest || !strings.Contains(msg, `"file"`) || !strings.Contains(msg, `"audio"`) {
		t.Errorf("audio field: %d %s", status, msg)
	}
	// curl -d sends form-urlencoded: a JSON body is read all the same.
	img := b64File(t, imagePath(t, "chelsea.png"))
	raw, _ := json.Marshal(map[string]any{"image": img, "top_k": 1})
	status, _, body = postRaw(t, ts.URL+"/v1/classify", "application/x-www-form-urlencoded", raw)
	if status != http.StatusOK {
		t.Errorf("JSON sent as form-urlencoded: %d %s", status, body)
	}
	// dimensions other than the model's are refused, the model's own kept.
	status, body = postJSON(t, ts.URL+"/v1/embeddings", map[string]any{"input": "a cat", "dimensions": 7})
	if msg := apiErr(t, body); status != http.StatusBadRequest || !strings.Contains(msg, "dimensions 7") {
		t.Errorf("dimensions 7: %d %s", status, msg)
	}
	var ok struct {
		Data []struct{ Embedding []float32 }
	}
	status, body = postJSON(t, ts.URL+"/v1/embeddings", map[string]any{"input": "a cat"})
	if status != http.StatusOK || json.Unmarshal(body, &ok) != nil || len(ok.Data) != 1 {
		t.Fatalf("embeddings: %d %s", status, body)
	}
	status, body = postJSON(t, ts.URL+"/v1/embeddings", map[string]any{"input": "a cat", "dimensions": len(ok.Data[0].Embedding)})
	if status != http.StatusOK {
		t.Errorf("dimensions = the model's: %d %s", status, body)
	}
}
