package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"io"
	"math"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goformer/goformer/audio"
	"github.com/goformer/goformer/internal/expected"
	"github.com/goformer/goformer/internal/testdata"
)

// serverFixtures are the models the test server loads, named after their
// fixtures.
var serverFixtures = []string{"vit", "clip", "whisper", "whisper-openai", "blip-caption", "blip-vqa", "vit-gpt2", "wav2vec2"}

var models testdata.Lazy[[]*model]

// testModels loads every fixture model once for all server tests.
func testModels(t *testing.T) []*model {
	t.Helper()
	return models.Get(t, loadFixtureModels(t, serverFixtures))
}

// get sends a GET request for url and returns the response, its body
// closed.
func get(t *testing.T, url string) *http.Response {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// loadFixtureModels skips t unless every fixture is there, and returns the
// loader of their models, each named after its fixture.
func loadFixtureModels(t *testing.T, fixtures []string) func() ([]*model, error) {
	t.Helper()
	dirs := make([]string, len(fixtures))
	for i, f := range fixtures {
		dirs[i] = fixtureModel(t, f) // skips when the data is absent
	}
	return func() ([]*model, error) {
		var ms []*model
		for i, dir := range dirs {
			m, err := loadPath(dir, "")
			if err != nil {
				return nil, err
			}
			m.Name = fixtures[i]
			ms = append(ms, m)
		}
		return ms, nil
	}
}

// newTestServer serves the fixture models over real HTTP on loopback.
// Whisper decodes at temperature 0 without fallback, as the fixtures were
// made.
func newTestServer(t *testing.T, cfg serverConfig) (*httptest.Server, *server) {
	t.Helper()
	s := newServer(testModels(t), cfg)
	ts := httptest.NewServer(s.handler())
	t.Cleanup(ts.Close)
	return ts, s
}

func b64File(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(data)
}

// postJSON sends v and returns the status and body.
func postJSON(t *testing.T, url string, v any) (int, []byte) {
	t.Helper()
	body, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	status, _, out := postRaw(t, url, "application/json", body)
	return status, out
}

// formFile is a multipart form: fields (repeatable) and one file.
type formFile struct {
	fields   [][2]string
	fileName string
	file     []byte
}

func (f formFile) encode(t *testing.T) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, kv := range f.fields {
		if err := mw.WriteField(kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	if f.file != nil {
		fw, err := mw.CreateFormFile("file", f.fileName)
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(f.file)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return mw.FormDataContentType(), buf.Bytes()
}

func postForm(t *testing.T, url string, f formFile) (int, http.Header, []byte) {
	t.Helper()
	ct, body := f.encode(t)
	return postRaw(t, url, ct, body)
}

func postRaw(t *testing.T, url, contentType string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	resp, err := http.Post(url, contentType, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, out
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// apiErr decodes an error response and checks its shape.
func apiErr(t *testing.T, body []byte) string {
	t.Helper()
	var e struct {
		Error struct {
			Message string `json:"message"`
			Type    string `json:"type"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error.Message == "" || e.Error.Type == "" {
		t.Fatalf("not an OpenAI error object: %s (%v)", body, err)
	}
	return e.Error.Message
}

func TestServeModels(t *testing.T) {
	ts, _ := newTestServer(t, serverConfig{})
	resp, err := http.Get(ts.URL + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct {
		Object string      `json:"object"`
		Data   []ModelInfo `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	if list.Object != "list" || len(list.Data) != len(serverFixtures) {
		t.Fatalf("%+v", list)
	}
	for i, m := range list.Data {
		if m.ID != serverFixtures[i] || m.Object != "model" || len(m.Tasks) == 0 {
			t.Errorf("%+v", m)
		}
	}
	resp2 := get(t, ts.URL+"/healthz")
	if resp2.StatusCode != http.StatusOK {
		t.Errorf("healthz: %d", resp2.StatusCode)
	}
}

func TestServeClassify(t *testing.T) {
	cases := readViTCases(t)
	ts, _ := newTestServer(t, serverConfig{})
	for i, name := range cases.Images {
		status, body := postJSON(t, ts.URL+"/v1/classify", map[string]any{"image": b64File(t, imagePath(t, name)), "top_k": 3})
		if status != http.StatusOK {
			t.Fatalf("%s: %d %s", name, status, body)
		}
		var got Classification
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		checkTop3(t, name, cases.Top3[i], got, tol, true)
	}
}

func TestServeZeroShot(t *testing.T) {
	cases := readZeroShotCases(t)
	ts, _ := newTestServer(t, serverConfig{})
	for i, name := range cases.Images {
		status, body := postJSON(t, ts.URL+"/v1/zeroshot", map[string]any{
			"model": "clip", "image": "data:image/png;base64," + b64File(t, imagePath(t, name)), "labels": cases.ZeroShot.Labels,
		})
		if status != http.StatusOK {
			t.Fatalf("%s: %d %s", name, status, body)
		}
		var got ZeroShotResult
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		cases.check(t, i, got)
	}
}

func TestServeEmbeddings(t *testing.T) {
	var cases struct {
		Images []string `json:"images"`
		Texts  []string `json:"texts"`
	}
	testdata.Cases(t, "clip", &cases)
	te := expected.Tensor(t, "clip", "text_embeds")
	ie := expected.Tensor(t, "clip", "image_embeds")
	dim := te.Dim(1)
	want := append(append([]float32{}, te.Contiguous().Data()...), ie.Contiguous().Data()...)
	var images []string
	for _, name := range cases.Images {
		images = append(images, b64File(t, imagePath(t, name)))
	}
	ts, _ := newTestServer(t, serverConfig{})
	for _, enc := range []string{"float", "base64"} {
		status, body := postJSON(t, ts.URL+"/v1/embeddings", map[string]any{
			"model": "openai/clip-vit-base-patch32", "input": cases.Texts, "images": images, "encoding_format": enc,
		})
		if status != http.StatusOK {
			t.Fatalf("%s: %d %s", enc, status, body)
		}
		var got struct {
			Object string `json:"object"`
			Data   []struct {
				Object    string          `json:"object"`
				Index     int             `json:"index"`
				Embedding json.RawMessage `json:"embedding"`
			} `json:"data"`
			Usage struct {
				PromptTokens int `json:"prompt_tokens"`
			} `json:"usage"`
		}
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		if got.Object != "list" || len(got.Data) != len(cases.Texts)+len(cases.Images) || got.Usage.PromptTokens <= len(cases.Texts) {
			t.Fatalf("%s: %s", enc, body)
		}
		for i, d := range got.Data {
			var v []float32
			if enc == "float" {
				if err := json.Unmarshal(d.Embedding, &v); err != nil {
					t.Fatal(err)
				}
			} else {
				var s string
				if err := json.Unmarshal(d.Embedding, &s); err != nil {
					t.Fatal(err)
				}
				raw, err := base64.StdEncoding.DecodeString(s)
				if err != nil {
					t.Fatal(err)
				}
				for j := 0; j+4 <= len(raw); j += 4 {
					v = append(v, math.Float32frombits(binary.LittleEndian.Uint32(raw[j:])))
				}
			}
			if d.Index != i || d.Object != "embedding" || len(v) != dim {
				t.Fatalf("%s #%d: index %d, %d values", enc, i, d.Index, len(v))
			}
			diff := 0.0
			for j := range v {
				diff = math.Max(diff, math.Abs(float64(v[j]-want[i*dim+j])))
			}
			if diff > tol {
				t.Errorf("%s #%d: max|Δ| %.3g", enc, i, diff)
			}
		}
	}
}

func TestServeCaptionVQA(t *testing.T) {
	var blipCases struct {
		Images        []string  `json:"images"`
		Prefix        string    `json:"prefix"`
		Unconditional []genCase `json:"unconditional"`
		Conditional   []genCase `json:"conditional"`
	}
	testdata.Cases(t, "blip-caption", &blipCases)
	var gptCases struct {
		Captions []genCase `json:"captions"`
	}
	testdata.Cases(t, "vit-gpt2", &gptCases)
	var vqaCases struct {
		QA []genCase `json:"qa"`
	}
	testdata.Cases(t, "blip-vqa", &vqaCases)
	ts, _ := newTestServer(t, serverConfig{})
	caption := func(req map[string]any, want string) {
		t.Helper()
		status, body := postJSON(t, ts.URL+"/v1/caption", req)
		var got struct{ Text string }
		if status != http.StatusOK || json.Unmarshal(body, &got) != nil || got.Text != want {
			t.Errorf("%v: %d %s, want %q", req["model"], status, body, want)
		}
	}
	img := b64File(t, imagePath(t, blipCases.Images[0]))
	c := blipCases.Unconditional[0]
	caption(map[string]any{"model": "blip-caption", "image": img, "max_new_tokens": c.maxTokens()}, c.Text)
	c = blipCases.Conditional[0]
	caption(map[string]any{"model": "blip-caption", "image": img, "prompt": blipCases.Prefix, "max_new_tokens": c.maxTokens()}, c.Text)
	g := gptCases.Captions[0]
	caption(map[string]any{"model": "vit-gpt2", "image": b64File(t, imagePath(t, g.Image)), "max_new_tokens": g.maxTokens()}, strings.TrimSpace(g.Text))
	for _, q := range vqaCases.QA {
		status, body := postJSON(t, ts.URL+"/v1/vqa", map[string]any{
			"image": b64File(t, imagePath(t, q.Image)), "question": q.Question, "max_new_tokens": len(q.IDs) - 1,
		})
		var got struct{ Answer, Question string }
		if status != http.StatusOK || json.Unmarshal(body, &got) != nil || got.Answer != q.Answer || got.Question != q.Question {
			t.Errorf("%s %q: %d %s, want %q", q.Image, q.Question, status, body, q.Answer)
		}
	}
}

func TestServeTranscriptions(t *testing.T) {
	var w2v struct {
		Audio string `json:"audio"`
		Text  string `json:"text"`
	}
	testdata.Cases(t, "wav2vec2", &w2v)
	jfk := readFile(t, testdata.Path(t, "media", "audio", w2v.Audio))
	ts, _ := newTestServer(t, serverConfig{})
	url := ts.URL + "/v1/audio/transcriptions"

	// wav2vec2: the fixture's transcript in json and text.
	status, hdr, body := postForm(t, url, formFile{fields: [][2]string{{"model", "wav2vec2"}}, fileName: "jfk.flac", file: jfk})
	var js map[string]string
	if status != http.StatusOK || json.Unmarshal(body, &js) != nil || js["text"] != w2v.Text || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
		t.Errorf("wav2vec2 json: %d %s", status, body)
	}
	status, hdr, body = postForm(t, url, formFile{fields: [][2]string{{"model", "wav2vec2"}, {"response_format", "text"}}, fileName: "jfk.flac", file: jfk})
	if status != http.StatusOK || string(body) != w2v.Text+"\n" || !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain") {
		t.Errorf("wav2vec2 text: %d %q", status, body)
	}
	status, _, body = postForm(t, url, formFile{fields: [][2]string{
		{"model", "wav2vec2"}, {"response_format", "verbose_json"}, {"timestamp_granularities[]", "word"}, {"timestamp_granularities[]", "segment"},
	}, fileName: "jfk.flac", file: jfk})
	var v verboseTranscript
	if status != http.StatusOK || json.Unmarshal(body, &v) != nil || v.Text != w2v.Text || len(v.Words) != len(strings.Fields(w2v.Text)) || len(v.Segments) != 1 {
		t.Errorf("wav2vec2 verbose_json with words: %d %.300s", status, body)
	}

	// Whisper: every format is what the CLI's writer makes of the model's
	// own result.
	m := testModels(t)[2]
	pcm, err := decodeAudio(bytes.NewReader(jfk), 16000)
	if err != nil {
		t.Fatal(err)
	}
	tr := mustTranscript(t, m, pcm, transcribeParams{Language: "en"})
	for _, format := range []string{"srt", "verbose_json"} {
		status, hdr, body := postForm(t, url, formFile{fields: [][2]string{
			{"model", "whisper"}, {"language", "en"}, {"response_format", format}, {"temperature", "0"},
		}, fileName: "jfk.flac", file: jfk})
		var want bytes.Buffer
		writeTranscript(&want, tr, format, granularities{segments: true})
		if status != http.StatusOK || string(body) != want.String() || hdr.Get("Content-Type") != contentType(format) {
			t.Errorf("whisper %s: %d %q\nwant %q", format, status, body, want.String())
		}
	}
}

func TestServeTranslations(t *testing.T) {
	// OpenAI's transcribe(task="translate") on the whisper-openai fixture.
	var cases struct {
		Audio string               `json:"audio"`
		Runs  map[string]openAIRun `json:"runs"`
	}
	testdata.Cases(t, "whisper-openai", &cases)
	want, ok := cases.Runs["translate"]
	if !ok {
		testdata.Missing(t, "no translate run in whisper-openai/cases.json")
	}
	ts, _ := newTestServer(t, serverConfig{})
	fields := [][2]string{{"model", "whisper-openai"}, {"response_format", "verbose_json"}}
	if lang, ok := want.Options["language"].(string); ok {
		fields = append(fields, [2]string{"language", lang})
	}
	audio := readFile(t, filepath.Join(testdata.Fixture(t, "whisper-openai"), cases.Audio))
	status, _, body := postForm(t, ts.URL+"/v1/audio/translations", formFile{fields: fields, fileName: cases.Audio, file: audio})
	if status != http.StatusOK {
		t.Fatalf("%d %s", status, body)
	}
	var got verboseTranscript
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if got.Task != "translate" || got.Text != strings.TrimSpace(want.Text) || len(got.Segments) != len(want.Segments) {
		t.Errorf("task %q, %d segments (want %d), text %q\nwant %q", got.Task, len(got.Segments), len(want.Segments), got.Text, want.Text)
	}
}

func TestServeErrors(t *testing.T) {
	ts, _ := newTestServer(t, serverConfig{MaxUpload: 256 << 10})
	jfk := readFile(t, testdata.Path(t, "media", "audio", "jfk.flac")) // > 256 KiB
	wav := readFile(t, testdata.Path(t, "media", "audio", "jfk16k.wav"))[:100<<10]
	png := readFile(t, imagePath(t, "chelsea.png"))
	truncated := b64File(t, imagePath(t, "truncated.jpg"))
	audioURL := ts.URL + "/v1/audio/transcriptions"
	w2v := [2]string{"model", "wav2vec2"}

	form := func(f formFile) func() (int, []byte) {
		return func() (int, []byte) { s, _, b := postForm(t, audioURL, f); return s, b }
	}
	raw := func(url, ct, body string) func() (int, []byte) {
		return func() (int, []byte) { s, _, b := postRaw(t, url, ct, []byte(body)); return s, b }
	}
	jsonReq := func(path string, v any) func() (int, []byte) {
		return func() (int, []byte) { return postJSON(t, ts.URL+path, v) }
	}
	// A multipart body cut in the middle of the file part.
	ct, full := formFile{fields: [][2]string{w2v}, fileName: "a.wav", file: wav}.encode(t)
	cut := full[:len(full)/2]

	cases := []struct {
		name   string
		do     func() (int, []byte)
		status int
		want   string
	}{
		{"not multipart", raw(audioURL, "application/json", `{"model": "wav2vec2"}`), 400, "multipart"},
		{"no boundary", raw(audioURL, "multipart/form-data", "xx"), 400, "multipart"},
		{"garbage multipart", raw(audioURL, "multipart/form-data; boundary=zzz", "this is not a multipart body"), 400, "malformed"},
		{"truncated multipart", raw(audioURL, ct, string(cut)), 400, "malformed"},
		{"no file", form(formFile{fields: [][2]string{w2v}}), 400, "file"},
		{"empty file", form(formFile{fields: [][2]string{w2v}, fileName: "empty.wav", file: []byte{}}), 400, "empty"},
		{"not audio", form(formFile{fields: [][2]string{w2v}, fileName: "cat.png", file: png[:1000]}), 400, "cat.png"},
		{"oversized audio", form(formFile{fields: [][2]string{w2v}, fileName: "jfk.flac", file: jfk}), 413, "larger"},
		{"bad format", form(formFile{fields: [][2]string{w2v, {"response_format", "xml"}}, fileName: "a.wav", file: wav}), 400, "xml"},
		{"bad temperature", form(formFile{fields: [][2]string{w2v, {"temperature", "hot"}}, fileName: "a.wav", file: wav}), 400, "temperature"},
		{"bad granularity", form(formFile{fields: [][2]string{w2v, {"timestamp_granularities[]", "char"}}, fileName: "a.wav", file: wav}), 400, "granularity"},
		{"ambiguous model", form(formFile{fileName: "a.wav", file: wav}), 400, "several"},
		{"unknown model", form(formFile{fields: [][2]string{{"model", "no-such-model"}}, fileName: "a.wav", file: wav}), 404, "no-such-model"},
		{"translate with wav2vec2", func() (int, []byte) {
			s, _, b := postForm(t, ts.URL+"/v1/audio/translations", formFile{fields: [][2]string{w2v}, fileName: "a.wav", file: wav})
			return s, b
		}, 400, "translate"},
		{"malformed json", raw(ts.URL+"/v1/classify", "application/json", `{"image": `), 400, "malformed"},
		{"trailing json", raw(ts.URL+"/v1/classify", "application/json", `{} {}`), 400, "malformed"},
		{"not json", raw(ts.URL+"/v1/classify", "text/plain", `hello`), 400, "application/json"},
		{"no image", jsonReq("/v1/classify", map[string]any{}), 400, "image"},
		{"bad base64", jsonReq("/v1/classify", map[string]any{"image": "%%%"}), 400, "base64"},
		{"truncated jpeg", jsonReq("/v1/caption", map[string]any{"model": "blip-caption", "image": truncated}), 400, "truncated"},
		{"oversized image", jsonReq("/v1/classify", map[string]any{"image": base64.StdEncoding.EncodeToString(png)}), 413, "larger"},
		{"wrong task", jsonReq("/v1/classify", map[string]any{"model": "whisper", "image": "x"}), 400, "transcribe"},
		{"no labels", jsonReq("/v1/zeroshot", map[string]any{"image": base64.StdEncoding.EncodeToString(png[:0])}), 400, ""},
		{"no question", jsonReq("/v1/vqa", map[string]any{"image": b64File(t, imagePath(t, "logo.png"))}), 400, "question"},
		{"negative beams", jsonReq("/v1/caption", map[string]any{"model": "blip-caption", "image": b64File(t, imagePath(t, "logo.png")), "beams": -1}), 400, "negative"},
		{"bad embeddings input", jsonReq("/v1/embeddings", map[string]any{"input": 42}), 400, "input"},
		{"nothing to embed", jsonReq("/v1/embeddings", map[string]any{}), 400, "nothing"},
		{"unknown endpoint", raw(ts.URL+"/v1/paint", "application/json", `{}`), 404, "/v1/paint"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, body := c.do()
			if status != c.status {
				t.Fatalf("status %d, want %d: %s", status, c.status, body)
			}
			if msg := apiErr(t, body); !strings.Contains(msg, c.want) {
				t.Errorf("message %q does not mention %q", msg, c.want)
			}
		})
	}
	resp := get(t, ts.URL+"/v1/classify")
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /v1/classify: %d", resp.StatusCode)
	}
}

// request is one request of the concurrency test.
type request struct {
	name string
	do   func() (int, []byte)
}

func TestServeConcurrent(t *testing.T) {
	// 8 requests at once over several models give the answers they give
	// one at a time: the shared models keep no per-call state.
	ts, _ := newTestServer(t, serverConfig{Concurrency: 8})
	jfk := readFile(t, testdata.Path(t, "media", "audio", "jfk.flac"))
	images := []string{"chelsea.png", "astronaut.png", "coffee.png", "page.png"}
	img := func(i int) string { return b64File(t, imagePath(t, images[i%len(images)])) }
	jsonReq := func(path string, v any) func() (int, []byte) {
		return func() (int, []byte) { return postJSON(t, ts.URL+path, v) }
	}
	audioReq := func(model, format string) func() (int, []byte) {
		return func() (int, []byte) {
			s, _, b := postForm(t, ts.URL+"/v1/audio/transcriptions", formFile{
				fields: [][2]string{{"model", model}, {"language", "en"}, {"response_format", format}}, fileName: "jfk.flac", file: jfk})
			return s, b
		}
	}
	reqs := []request{
		{"whisper", audioReq("whisper", "verbose_json")},
		{"wav2vec2", audioReq("wav2vec2", "json")},
		{"classify", jsonReq("/v1/classify", map[string]any{"image": img(0), "top_k": 0})},
		{"zeroshot", jsonReq("/v1/zeroshot", map[string]any{"image": img(1), "labels": []string{"a cat", "a dog", "a rocket"}})},
		{"embeddings", jsonReq("/v1/embeddings", map[string]any{"input": []string{"a cat", "a cup of coffee"}, "images": []string{img(2)}})},
		{"blip caption", jsonReq("/v1/caption", map[string]any{"model": "blip-caption", "image": img(3), "beams": 2, "max_new_tokens": 8})},
		{"vit-gpt2 caption", jsonReq("/v1/caption", map[string]any{"model": "vit-gpt2", "image": img(0), "max_new_tokens": 8})},
		{"vqa", jsonReq("/v1/vqa", map[string]any{"image": img(1), "question": "what is this?", "max_new_tokens": 8})},
	}
	sequential := make([][]byte, len(reqs))
	for i, r := range reqs {
		status, body := r.do()
		if status != http.StatusOK {
			t.Fatalf("%s: %d %s", r.name, status, body)
		}
		sequential[i] = body
	}
	concurrent := make([][]byte, len(reqs))
	statuses := make([]int, len(reqs))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, r := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			statuses[i], concurrent[i] = r.do()
		}()
	}
	close(start)
	wg.Wait()
	for i, r := range reqs {
		if statuses[i] != http.StatusOK || !bytes.Equal(concurrent[i], sequential[i]) {
			t.Errorf("%s: concurrent answer (%d) %.200s differs from sequential %.200s", r.name, statuses[i], concurrent[i], sequential[i])
		}
	}
}

func TestServeBusyAndTimeout(t *testing.T) {
	// With the only slot taken and no waiting room, a request is refused.
	ts, s := newTestServer(t, serverConfig{Concurrency: 1, Queue: -1})
	release, err := s.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	status, body := postJSON(t, ts.URL+"/v1/classify", map[string]any{"image": b64File(t, imagePath(t, "chelsea.png"))})
	if status != http.StatusServiceUnavailable {
		t.Errorf("full server: %d %s", status, body)
	}
	apiErr(t, body)
	release()
	// With the slot taken, a request waits until its deadline, then 503.
	ts, s = newTestServer(t, serverConfig{Concurrency: 1, Timeout: 300 * time.Millisecond})
	release, err = s.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	status, body = postJSON(t, ts.URL+"/v1/classify", map[string]any{"image": b64File(t, imagePath(t, "chelsea.png"))})
	release()
	if status != http.StatusServiceUnavailable || !strings.Contains(apiErr(t, body), "busy") {
		t.Errorf("waiting past the deadline: %d %s", status, body)
	}
	// Inference that outlives the request's time limit is stopped: 504.
	// The audio (jfk.flac 20 times, 220 s) takes far longer than the limit
	// to transcribe, however fast the machine.
	pcm, err := audio.Load16kFile(testdata.Path(t, "media", "audio", "jfk.flac"))
	if err != nil {
		t.Fatal(err)
	}
	long := testdata.WAV16(slices.Repeat(pcm, 20), 16000)
	ts, _ = newTestServer(t, serverConfig{Timeout: 400 * time.Millisecond})
	began := time.Now()
	status, _, body = postForm(t, ts.URL+"/v1/audio/transcriptions", formFile{
		fields: [][2]string{{"model", "whisper"}, {"language", "en"}}, fileName: "long.wav", file: long})
	if status != http.StatusGatewayTimeout {
		t.Errorf("slow transcription: %d %s", status, body)
	}
	bound := 5 * time.Second
	if raceEnabled {
		bound *= 6
	}
	if d := time.Since(began); d > bound {
		t.Errorf("timed-out request took %v", d)
	}
}

func TestServeGracefulShutdown(t *testing.T) {
	// A request in flight when shutdown starts is answered; then the
	// server stops.
	started, finish := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-finish
		io.WriteString(w, "done")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- serveListener(ctx, ln, h, serverConfig{}, 10*time.Second) }()
	type result struct {
		status int
		body   string
		err    error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			got <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- result{status: resp.StatusCode, body: string(b)}
	}()
	<-started
	cancel()
	time.Sleep(100 * time.Millisecond)
	select {
	case err := <-served:
		t.Fatalf("server stopped with a request in flight: %v", err)
	default:
	}
	close(finish)
	r := <-got
	if r.err != nil || r.status != http.StatusOK || r.body != "done" {
		t.Errorf("in-flight request: %+v", r)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("serveListener: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("server did not stop")
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Error("server still accepts connections after shutdown")
	}
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestServeCommand(t *testing.T) {
	// "goformer serve" end to end: load, listen, answer, log, shut down on
	// cancellation (what SIGINT/SIGTERM do in main).
	var w2v struct {
		Text string `json:"text"`
	}
	testdata.Cases(t, "wav2vec2", &w2v)
	dir := fixtureModel(t, "wav2vec2")
	jfk := readFile(t, testdata.Path(t, "media", "audio", "jfk.flac"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	exit := make(chan int, 1)
	go func() {
		exit <- run(ctx, []string{"serve", "-addr", "127.0.0.1:0", "-log-format", "json", "-model", "asr=" + dir}, &stdout, &stderr)
	}()
	var addr string
	deadline := time.Now().Add(30 * time.Second)
	for addr == "" && time.Now().Before(deadline) {
		sc := bufio.NewScanner(strings.NewReader(stderr.String()))
		for sc.Scan() {
			var line map[string]any
			if json.Unmarshal(sc.Bytes(), &line) == nil && line["msg"] == "listening" {
				addr, _ = line["addr"].(string)
			}
		}
		select {
		case code := <-exit:
			t.Fatalf("serve exited %d: %s", code, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	if addr == "" {
		t.Fatalf("no listening line: %s", stderr.String())
	}
	status, _, body := postForm(t, "http://"+addr+"/v1/audio/transcriptions", formFile{
		fields: [][2]string{{"model", "whisper-1"}, {"response_format", "text"}}, fileName: "jfk.flac", file: jfk})
	if status != http.StatusOK || string(body) != w2v.Text+"\n" {
		t.Errorf("%d %q", status, body)
	}
	cancel()
	select {
	case code := <-exit:
		if code != 0 {
			t.Errorf("exit %d: %s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
	logs := stderr.String()
	var sawRequest bool
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Errorf("log line is not JSON: %q", sc.Text())
			continue
		}
		if line["msg"] == "request" && line["path"] == "/v1/audio/transcriptions" {
			sawRequest = line["status"] == float64(200) && line["model"] == "asr"
		}
	}
	if !sawRequest || !strings.Contains(logs, `"msg":"stopped"`) {
		t.Errorf("logs lack the request or the shutdown:\n%s", logs)
	}
	if stdout.String() != "" {
		t.Errorf("stdout %q", stdout.String())
	}
}
