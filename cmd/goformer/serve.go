package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"log/slog"
	"math"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/goformer/goformer"
)

// serverConfig bounds what the server accepts and how long it works.
type serverConfig struct {
	// MaxUpload is the largest request body in bytes (413 above it).
	MaxUpload int64
	// Concurrency is the number of inferences run at once.
	Concurrency int
	// Queue is the number of requests that may wait for a free slot; more
	// are refused with 503. 0 means 64; negative means none may wait.
	Queue int
	// Timeout bounds each request, waiting for a slot included (504 when it
	// runs out).
	Timeout time.Duration
	// Fallback is the temperature increment of Whisper's fallback when a
	// window fails OpenAI's quality thresholds (OpenAI's API does it from
	// temperature 0); 0 decodes at the requested temperature only.
	Fallback float64
	// MaxBeams and MaxNewTokens bound the generation a request may ask for
	// (400 naming the limit above them): beam search costs beams² per token.
	MaxBeams, MaxNewTokens int
	// MaxAudioSeconds bounds the audio of one transcription (400 above).
	MaxAudioSeconds float64
	// Log receives one structured line per request.
	Log *slog.Logger
}

func (c *serverConfig) defaults() {
	if c.MaxUpload <= 0 {
		c.MaxUpload = 25 << 20
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 2
	}
	if c.Queue == 0 {
		c.Queue = 64
	}
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Minute
	}
	if c.MaxBeams <= 0 {
		c.MaxBeams = 16
	}
	if c.MaxNewTokens <= 0 {
		c.MaxNewTokens = 256
	}
	if c.MaxAudioSeconds <= 0 {
		c.MaxAudioSeconds = 4 * 3600
	}
	if c.Log == nil {
		c.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

// server answers inference requests with loaded models, shared by all
// requests (every model is safe for concurrent use).
type server struct {
	// loaded holds the models once they are all loaded (nil before: the
	// server answers 503 while loading).
	loaded  atomic.Pointer[[]*model]
	cfg     serverConfig
	sem     chan struct{}
	waiting atomic.Int64
}

// newServer returns a server of models; nil models leaves it loading until
// setModels.
func newServer(models []*model, cfg serverConfig) *server {
	cfg.defaults()
	s := &server{cfg: cfg, sem: make(chan struct{}, cfg.Concurrency)}
	if models != nil {
		s.setModels(models)
	}
	return s
}

// setModels makes the server answer with models.
func (s *server) setModels(models []*model) { s.loaded.Store(&models) }

// models returns the loaded models (nil while loading).
func (s *server) models() []*model {
	if p := s.loaded.Load(); p != nil {
		return *p
	}
	return nil
}

// loading answers 503 while the models load (the port is bound first, so
// that clients and health checks see the server at once).
func (s *server) loading(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.loaded.Load() == nil {
			w.Header().Set("Retry-After", "5")
			if r.URL.Path == "/healthz" {
				writeJSONResponse(w, http.StatusServiceUnavailable, map[string]string{"status": "loading"})
				return
			}
			writeError(w, r, &apiError{status: http.StatusServiceUnavailable, typ: "server_error", msg: "models are loading: try again shortly"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// apiHandler is an endpoint of the API. An error it returns before writing
// anything is answered as an API error (writeError).
type apiHandler func(w http.ResponseWriter, r *http.Request) error

func (h apiHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := h(w, r); err != nil {
		writeError(w, r, err)
	}
}

// handler returns the HTTP API.
func (s *server) handler() http.Handler {
	mux := http.NewServeMux()
	routes := []struct {
		method, path string
		h            apiHandler
	}{
		{"GET", "/healthz", func(w http.ResponseWriter, r *http.Request) error {
			writeJSONResponse(w, http.StatusOK, map[string]string{"status": "ok"})
			return nil
		}},
		{"GET", "/v1/models", s.listModels},
		{"POST", "/v1/audio/transcriptions", s.audio(goformer.TaskTranscribe)},
		{"POST", "/v1/audio/translations", s.audio(goformer.TaskTranslate)},
		{"POST", "/v1/classify", s.classify},
		{"POST", "/v1/zeroshot", s.zeroShot},
		{"POST", "/v1/embeddings", s.embeddings},
		{"POST", "/v1/caption", s.caption},
		{"POST", "/v1/vqa", s.vqa},
		{"POST", "/v1/chat/completions", s.chatCompletions},
	}
	methods := map[string]string{}
	for _, rt := range routes {
		mux.Handle(rt.method+" "+rt.path, rt.h)
		methods[rt.path] = rt.method
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if m, ok := methods[r.URL.Path]; ok {
			w.Header().Set("Allow", m)
			writeError(w, r, &apiError{status: http.StatusMethodNotAllowed, typ: "invalid_request_error",
				msg: fmt.Sprintf("%s takes %s, not %s", r.URL.Path, m, r.Method)})
			return
		}
		writeError(w, r, &apiError{status: http.StatusNotFound, typ: "invalid_request_error",
			msg: fmt.Sprintf("no endpoint %s %s", r.Method, r.URL.Path)})
	})
	return s.middleware(s.loading(mux))
}

// statusWriter records the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap gives http.ResponseController the connection's writer (flushing
// server-sent events).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// requestInfo is filled by handlers for the request log.
type requestInfo struct {
	model string
	err   error
}

type infoKey struct{}

func info(r *http.Request) *requestInfo {
	if ri, ok := r.Context().Value(infoKey{}).(*requestInfo); ok {
		return ri
	}
	return &requestInfo{}
}

// middleware bounds the body and the time of every request, turns a panic
// into a 500 and logs every request.
func (s *server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ri := &requestInfo{}
		ctx, cancel := context.WithTimeout(context.WithValue(r.Context(), infoKey{}, ri), s.cfg.Timeout)
		defer cancel()
		r = r.WithContext(ctx)
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxUpload)
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				s.cfg.Log.Error("panic", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if sw.status == 0 {
					writeError(sw, r, &apiError{status: http.StatusInternalServerError, typ: "server_error", msg: "internal error"})
				}
			}
			attrs := []any{
				"method", r.Method, "path", r.URL.Path, "status", sw.status, "bytes", sw.bytes,
				"duration_ms", float64(time.Since(start).Microseconds()) / 1000, "remote", r.RemoteAddr,
			}
			if ri.model != "" {
				attrs = append(attrs, "model", ri.model)
			}
			level := slog.LevelInfo
			if ri.err != nil {
				attrs = append(attrs, "error", oneLine(ri.err.Error()))
				if sw.status >= 500 {
					level = slog.LevelError
				} else {
					level = slog.LevelWarn
				}
			}
			s.cfg.Log.Log(context.Background(), level, "request", attrs...)
		}()
		next.ServeHTTP(sw, r)
	})
}

// apiError is an error response in OpenAI's format.
type apiError struct {
	status int
	typ    string
	msg    string
	param  string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(param, format string, a ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, typ: "invalid_request_error", param: param, msg: fmt.Sprintf(format, a...)}
}

// inputErrors are the sentinels of input the model cannot take: 400. Every
// family's input errors match task.ErrInput.
var inputErrors = []error{errBadInput, errWrongTask}

// toAPIError maps an error to its response.
func toAPIError(r *http.Request, err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &apiError{status: http.StatusRequestEntityTooLarge, typ: "invalid_request_error",
			msg: fmt.Sprintf("request body larger than %d bytes", mbe.Limit)}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &apiError{status: http.StatusGatewayTimeout, typ: "server_error", msg: "request timed out"}
	}
	if errors.Is(err, context.Canceled) {
		return &apiError{status: 499, typ: "server_error", msg: "request canceled"}
	}
	for _, e := range inputErrors {
		if errors.Is(err, e) {
			return &apiError{status: http.StatusBadRequest, typ: "invalid_request_error", msg: oneLine(err.Error())}
		}
	}
	return &apiError{status: http.StatusInternalServerError, typ: "server_error", msg: oneLine(err.Error())}
}

// writeError sends err as {"error": {...}} and records it for the log.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	ae := toAPIError(r, err)
	info(r).err = err
	body := map[string]any{"message": ae.msg, "type": ae.typ, "param": nil, "code": nil}
	if ae.param != "" {
		body["param"] = ae.param
	}
	if ae.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSONResponse(w, ae.status, map[string]any{"error": body})
}

func writeJSONResponse(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	if err := writeJSON(&buf, v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"error":{"message":"encoding the response failed","type":"server_error","param":null,"code":null}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// pick chooses the model for a task: the one named (by its name, or the
// last part of its path or id), else the only model that does the task.
// OpenAI clients send names such as "whisper-1": with one speech model
// loaded, any name reaches it.
func (s *server) pick(r *http.Request, task, name string) (*model, error) {
	var able []*model
	for _, m := range s.models() {
		if m.Supports(task) {
			able = append(able, m)
		}
	}
	if name != "" {
		for _, m := range s.models() {
			if m.Name == name || lastPart(m.Name) == name {
				if !m.Supports(task) {
					return nil, &apiError{status: http.StatusBadRequest, typ: "invalid_request_error", param: "model", msg: oneLine(m.wrongTask(task).Error())}
				}
				info(r).model = m.Name
				return m, nil
			}
		}
	}
	if len(able) == 1 || (len(able) > 1 && openAIModel(name)) {
		// OpenAI clients send their own model names ("whisper-1"): they
		// reach the first loaded model that does the task.
		info(r).model = able[0].Name
		return able[0], nil
	}
	var names []string
	for _, m := range able {
		names = append(names, m.Name)
	}
	if len(able) == 0 {
		return nil, &apiError{status: http.StatusNotFound, typ: "invalid_request_error", param: "model",
			msg: fmt.Sprintf("no loaded model does %s", task)}
	}
	if name == "" {
		return nil, badRequest("model", "several models do %s: name one of %s", task, strings.Join(names, ", "))
	}
	return nil, &apiError{status: http.StatusNotFound, typ: "invalid_request_error", param: "model",
		msg: fmt.Sprintf("model %q is not loaded; models that do %s: %s", name, task, strings.Join(names, ", "))}
}

// openAIModel reports whether name is one of OpenAI's model names, which
// its clients send whatever server they talk to.
func openAIModel(name string) bool {
	switch {
	case name == "whisper-1", strings.HasPrefix(name, "gpt-4o") && strings.HasSuffix(name, "-transcribe"),
		strings.HasPrefix(name, "text-embedding-"), strings.HasPrefix(name, "gpt-"):
		return true
	}
	return false
}

func lastPart(name string) string {
	name = strings.TrimRight(name, "/")
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		return name[i+1:]
	}
	return name
}

// acquire waits for an inference slot until the request's deadline.
func (s *server) acquire(ctx context.Context) (func(), error) {
	if s.waiting.Add(1) > int64(s.cfg.Concurrency+max(s.cfg.Queue, 0)) {
		s.waiting.Add(-1)
		return nil, &apiError{status: http.StatusServiceUnavailable, typ: "server_error", msg: "server busy: too many requests waiting"}
	}
	release := func() { <-s.sem; s.waiting.Add(-1) }
	select {
	case s.sem <- struct{}{}: // a free slot is taken at once
		return release, nil
	default:
	}
	select {
	case s.sem <- struct{}{}:
		return release, nil
	case <-ctx.Done():
		s.waiting.Add(-1)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, &apiError{status: http.StatusServiceUnavailable, typ: "server_error", msg: "server busy: timed out waiting for a free slot"}
		}
		return nil, ctx.Err()
	}
}

// ModelInfo describes a loaded model in GET /v1/models.
type ModelInfo struct {
	ID           string   `json:"id"`
	Object       string   `json:"object"`
	Created      int64    `json:"created"`
	OwnedBy      string   `json:"owned_by"`
	Family       string   `json:"family"`
	Architecture string   `json:"architecture"`
	Tasks        []string `json:"tasks"`
}

func (s *server) listModels(w http.ResponseWriter, r *http.Request) error {
	data := []ModelInfo{}
	for _, m := range s.models() {
		data = append(data, ModelInfo{ID: m.Name, Object: "model", OwnedBy: "goformer", Family: m.Family(), Architecture: m.Arch(), Tasks: m.Tasks()})
	}
	writeJSONResponse(w, http.StatusOK, map[string]any{"object": "list", "data": data})
	return nil
}

// Limits on the non-file parts of a multipart request.
const (
	maxFieldBytes = 64 << 10
	maxFields     = 64
)

// audioForm is a parsed transcription request.
type audioForm struct {
	fields   map[string][]string
	file     []byte
	fileName string
}

func (f *audioForm) get(name string) string {
	if v := f.fields[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// audioFormFields are the fields of OpenAI's audio API.
var audioFormFields = map[string]bool{
	"file": true, "model": true, "language": true, "prompt": true, "response_format": true,
	"temperature": true, "timestamp_granularities[]": true, "timestamp_granularities": true,
	"stream": true, "include[]": true, "chunking_strategy": true,
}

// readAudioForm reads an OpenAI audio request (multipart/form-data with a
// "file" part).
func readAudioForm(r *http.Request) (*audioForm, error) {
	ct := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return nil, badRequest("", "want a multipart/form-data body with a file part (Content-Type %q)", ct)
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	f := &audioForm{fields: map[string][]string{}}
	n := 0
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, formError(err)
		}
		n++
		if n > maxFields {
			return nil, badRequest("", "more than %d form fields", maxFields)
		}
		name := part.FormName()
		if name == "file" {
			if f.file != nil {
				return nil, badRequest("file", "more than one file part")
			}
			data, err := io.ReadAll(part)
			if err != nil {
				return nil, formError(err)
			}
			f.file, f.fileName = data, part.FileName()
			if f.fileName == "" {
				f.fileName = "file"
			}
			continue
		}
		data, err := io.ReadAll(io.LimitReader(part, maxFieldBytes+1))
		if err != nil {
			return nil, formError(err)
		}
		if len(data) > maxFieldBytes {
			if !audioFormFields[name] {
				return nil, badRequest(name, "form field %q is not part of the API: send the audio as the \"file\" part", name)
			}
			return nil, badRequest(name, "form field %q longer than %d bytes", name, maxFieldBytes)
		}
		f.fields[name] = append(f.fields[name], string(data))
	}
	if f.file == nil {
		var other []string
		for name := range f.fields {
			if !audioFormFields[name] {
				other = append(other, strconv.Quote(name))
			}
		}
		if len(other) > 0 {
			sort.Strings(other)
			return nil, badRequest("file", "no file part in the form (the audio goes in \"file\"; got %s)", strings.Join(other, ", "))
		}
		return nil, badRequest("file", "no file part in the form")
	}
	if len(f.file) == 0 {
		return nil, badRequest("file", "the uploaded file %s is empty", f.fileName)
	}
	return f, nil
}

// formError keeps a body-size error (413) and makes any other read error a
// malformed-request error (400).
func formError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return err
	}
	return badRequest("", "malformed multipart body: %v", err)
}

// audio handles /v1/audio/transcriptions and /v1/audio/translations.
func (s *server) audio(task string) apiHandler {
	return func(w http.ResponseWriter, r *http.Request) error {
		form, err := readAudioForm(r)
		if err != nil {
			return err
		}
		m, err := s.pick(r, task, form.get("model"))
		if err != nil {
			return err
		}
		format := form.get("response_format")
		if format == "" {
			format = "json"
		}
		if !validTranscriptFormat(format) {
			return badRequest("response_format", "response_format %q: want %s", format, strings.Join(transcriptFormats, ", "))
		}
		// language is the spoken language for both endpoints (OpenAI's
		// translations endpoint detects it; naming it is an extension).
		p := transcribeParams{Task: task, Language: form.get("language"), Prompt: form.get("prompt"), Fallback: s.cfg.Fallback}
		if t := form.get("temperature"); t != "" {
			v, err := strconv.ParseFloat(t, 64)
			if err != nil || math.IsNaN(v) || v < 0 || v > 1 {
				return badRequest("temperature", "temperature %q: want a number from 0 to 1", t)
			}
			p.Temperature = v
		}
		g := granularities{segments: true}
		gran := append(form.fields["timestamp_granularities[]"], form.fields["timestamp_granularities"]...)
		if len(gran) > 0 {
			g.segments = false
			for _, x := range gran {
				switch x {
				case "segment":
					g.segments = true
				case "word":
					g.words = true
				default:
					return badRequest("timestamp_granularities", "timestamp granularity %q: want word or segment", x)
				}
			}
		}
		p.Words = g.words && format != "json" && format != "text"
		pcm, err := decodeAudio(bytes.NewReader(form.file), m.sampleRate())
		if err != nil {
			return fmt.Errorf("%s: %w", form.fileName, err)
		}
		if secs := float64(len(pcm)) / float64(m.sampleRate()); secs > s.cfg.MaxAudioSeconds {
			return badRequest("file", "%s: %.0f s of audio: this server takes at most %.0f s", form.fileName, secs, s.cfg.MaxAudioSeconds)
		}
		release, err := s.acquire(r.Context())
		if err != nil {
			return err
		}
		t, err := m.transcribe(r.Context(), pcm, p)
		release()
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		if err := writeTranscript(&buf, t, format, g); err != nil {
			return err
		}
		w.Header().Set("Content-Type", contentType(format))
		w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
		w.WriteHeader(http.StatusOK)
		w.Write(buf.Bytes())
		return nil
	}
}

// readJSON decodes a JSON request body into v.
func readJSON(r *http.Request, v any) error {
	// curl -d sends application/x-www-form-urlencoded and some clients
	// text/plain: a JSON body is read whatever they say, but a multipart
	// form is no JSON.
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); strings.HasPrefix(mt, "multipart/") {
		return badRequest("", "want a JSON body (Content-Type application/json), not %s", mt)
	}
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return badRequest("", "malformed JSON body (want application/json): %v", err)
	}
	if dec.More() {
		return badRequest("", "malformed JSON body: data after the JSON value")
	}
	return nil
}

// decodeImageField decodes a base64 image (raw, or a data: URL).
func decodeImageField(param, v string) (image.Image, error) {
	if v == "" {
		return nil, badRequest(param, "no %s: give a base64-encoded image", param)
	}
	if strings.HasPrefix(v, "data:") {
		i := strings.Index(v, ",")
		if i < 0 || !strings.Contains(v[:i], ";base64") {
			return nil, badRequest(param, "%s: a data URL must be base64 (data:image/...;base64,...)", param)
		}
		v = v[i+1:]
	}
	v = strings.TrimSpace(v)
	var data []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if data, err = enc.DecodeString(v); err == nil {
			break
		}
	}
	if err != nil {
		return nil, badRequest(param, "%s is not valid base64: %v", param, err)
	}
	return decodeImageBytes(param, data)
}

// imageRequest is the body of the image endpoints.
type imageRequest struct {
	Model string `json:"model"`
	// Image is the image, base64-encoded (or a data: URL).
	Image string `json:"image"`
	// TopK bounds the classes or labels returned (classify, zeroshot).
	TopK *int `json:"top_k"`
	// Labels and Template are zeroshot's candidate labels and prompt template.
	Labels   []string `json:"labels"`
	Template string   `json:"template"`
	// Prompt (caption), Question (vqa), Beams and MaxNewTokens steer
	// generation.
	Prompt       string `json:"prompt"`
	Question     string `json:"question"`
	Beams        int    `json:"beams"`
	MaxNewTokens int    `json:"max_new_tokens"`
}

// imageTask runs the common part of the image endpoints: parse, pick the
// model, decode the image, wait for a slot, run fn and answer its result.
func (s *server) imageTask(w http.ResponseWriter, r *http.Request, task string, fn func(context.Context, *model, image.Image, *imageRequest) (any, error)) error {
	var req imageRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if err := s.checkLimits(&req); err != nil {
		return err
	}
	m, err := s.pick(r, task, req.Model)
	if err != nil {
		return err
	}
	img, err := decodeImageField("image", req.Image)
	if err != nil {
		return err
	}
	release, err := s.acquire(r.Context())
	if err != nil {
		return err
	}
	out, err := fn(r.Context(), m, img, &req)
	release()
	if err != nil {
		return err
	}
	writeJSONResponse(w, http.StatusOK, out)
	return nil
}

// maxLabels bounds the labels of one zero-shot request.
const maxLabels = 256

// checkLimits refuses, before any work, requests beyond the server's limits.
func (s *server) checkLimits(req *imageRequest) error {
	switch {
	case req.Beams < 0 || req.MaxNewTokens < 0:
		return badRequest("", "beams and max_new_tokens must not be negative (got %d and %d)", req.Beams, req.MaxNewTokens)
	case req.Beams > s.cfg.MaxBeams:
		return badRequest("beams", "beams %d: this server takes 0 (the model's setting) to %d", req.Beams, s.cfg.MaxBeams)
	case req.MaxNewTokens > s.cfg.MaxNewTokens:
		return badRequest("max_new_tokens", "max_new_tokens %d: this server takes 0 (the model's setting) to %d", req.MaxNewTokens, s.cfg.MaxNewTokens)
	case len(req.Labels) > maxLabels:
		return badRequest("labels", "%d labels: this server takes at most %d", len(req.Labels), maxLabels)
	case req.TopK != nil && *req.TopK < 0:
		return badRequest("top_k", "top_k %d: want 0 (all) or more", *req.TopK)
	}
	return nil
}

func topK(k *int, def int) int {
	if k == nil {
		return def
	}
	return *k
}

func (s *server) classify(w http.ResponseWriter, r *http.Request) error {
	return s.imageTask(w, r, goformer.TaskClassify, func(ctx context.Context, m *model, img image.Image, req *imageRequest) (any, error) {
		preds, err := m.classify(ctx, img, topK(req.TopK, 5))
		if err != nil {
			return nil, err
		}
		return map[string]any{"model": m.Name, "predictions": preds}, nil
	})
}

func (s *server) zeroShot(w http.ResponseWriter, r *http.Request) error {
	return s.imageTask(w, r, goformer.TaskZeroShot, func(ctx context.Context, m *model, img image.Image, req *imageRequest) (any, error) {
		if len(req.Labels) == 0 {
			return nil, badRequest("labels", "no labels")
		}
		scores, err := m.zeroShot(ctx, img, req.Labels, req.Template, topK(req.TopK, 0))
		if err != nil {
			return nil, err
		}
		return map[string]any{"model": m.Name, "labels": scores}, nil
	})
}

func (s *server) caption(w http.ResponseWriter, r *http.Request) error {
	return s.imageTask(w, r, goformer.TaskCaption, func(ctx context.Context, m *model, img image.Image, req *imageRequest) (any, error) {
		text, err := m.caption(ctx, img, captionParams{Prompt: req.Prompt, Beams: req.Beams, MaxNewTokens: req.MaxNewTokens})
		if err != nil {
			return nil, err
		}
		return map[string]any{"model": m.Name, "text": text}, nil
	})
}

func (s *server) vqa(w http.ResponseWriter, r *http.Request) error {
	return s.imageTask(w, r, goformer.TaskVQA, func(ctx context.Context, m *model, img image.Image, req *imageRequest) (any, error) {
		if strings.TrimSpace(req.Question) == "" {
			return nil, badRequest("question", "no question")
		}
		ans, err := m.answer(ctx, img, req.Question, captionParams{Beams: req.Beams, MaxNewTokens: req.MaxNewTokens})
		if err != nil {
			return nil, err
		}
		return map[string]any{"model": m.Name, "question": req.Question, "answer": ans}, nil
	})
}

// embeddingsRequest is OpenAI's embeddings request, with images added.
type embeddingsRequest struct {
	Model string `json:"model"`
	// Input is a text or a list of texts.
	Input json.RawMessage `json:"input"`
	// Images are base64-encoded images (a goformer extension), embedded
	// after the texts.
	Images []string `json:"images"`
	// EncodingFormat is "float" (default) or "base64" (little-endian
	// float32, as OpenAI's API).
	EncodingFormat string `json:"encoding_format"`
	// Dimensions is OpenAI's output size; the model's own is the only one
	// goformer gives (CLIP's vectors cannot be shortened).
	Dimensions *int `json:"dimensions"`
}

type embeddingData struct {
	Object    string `json:"object"`
	Index     int    `json:"index"`
	Embedding any    `json:"embedding"`
}

// maxEmbedInputs bounds the inputs of one embeddings request.
const maxEmbedInputs = 256

func (s *server) embeddings(w http.ResponseWriter, r *http.Request) error {
	var req embeddingsRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	var texts []string
	if len(req.Input) > 0 && string(req.Input) != "null" {
		var one string
		if err := json.Unmarshal(req.Input, &one); err == nil {
			texts = []string{one}
		} else if err := json.Unmarshal(req.Input, &texts); err != nil {
			return badRequest("input", "input must be a string or a list of strings")
		}
	}
	if len(texts) == 0 && len(req.Images) == 0 {
		return badRequest("input", "nothing to embed: give input (texts) and/or images")
	}
	if len(texts)+len(req.Images) > maxEmbedInputs {
		return badRequest("input", "more than %d inputs", maxEmbedInputs)
	}
	if req.EncodingFormat != "" && req.EncodingFormat != "float" && req.EncodingFormat != "base64" {
		return badRequest("encoding_format", "encoding_format %q: want float or base64", req.EncodingFormat)
	}
	m, err := s.pick(r, goformer.TaskEmbed, req.Model)
	if err != nil {
		return err
	}
	if req.Dimensions != nil {
		if d := embeddingDim(m); d > 0 && *req.Dimensions != d {
			return badRequest("dimensions", "dimensions %d: %s gives vectors of %d", *req.Dimensions, m.Name, d)
		}
	}
	var imgs []image.Image
	for i, b64 := range req.Images {
		img, err := decodeImageField(fmt.Sprintf("images[%d]", i), b64)
		if err != nil {
			return err
		}
		imgs = append(imgs, img)
	}
	release, err := s.acquire(r.Context())
	if err != nil {
		return err
	}
	var vecs [][]float32
	tokens := 0
	if len(texts) > 0 {
		var tv [][]float32
		tv, err = m.embedTexts(r.Context(), texts)
		vecs = append(vecs, tv...)
		if err == nil {
			tokens = countTokens(m, texts)
		}
	}
	if err == nil && len(imgs) > 0 {
		var iv [][]float32
		iv, err = m.embedImages(r.Context(), imgs)
		vecs = append(vecs, iv...)
	}
	release()
	if err != nil {
		return err
	}
	data := make([]embeddingData, len(vecs))
	for i, v := range vecs {
		data[i] = embeddingData{Object: "embedding", Index: i, Embedding: v}
		if req.EncodingFormat == "base64" {
			b := make([]byte, 4*len(v))
			for j, x := range v {
				binary.LittleEndian.PutUint32(b[4*j:], math.Float32bits(x))
			}
			data[i].Embedding = base64.StdEncoding.EncodeToString(b)
		}
	}
	writeJSONResponse(w, http.StatusOK, map[string]any{
		"object": "list", "data": data, "model": m.Name,
		"usage": map[string]int{"prompt_tokens": tokens, "total_tokens": tokens},
	})
	return nil
}

// serveListener serves h on ln until ctx is done, then shuts down
// gracefully: it stops accepting, lets requests in flight finish for up to
// grace, then cancels what is left.
func serveListener(ctx context.Context, ln net.Listener, h http.Handler, cfg serverConfig, grace time.Duration) error {
	cfg.defaults()
	base, cancelBase := context.WithCancel(context.Background())
	defer cancelBase()
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// Uploads and inference are bounded by the handler's timeout; the
		// write timeout leaves room for the response after it.
		WriteTimeout: cfg.Timeout + 30*time.Second,
		BaseContext:  func(net.Listener) context.Context { return base },
		ErrorLog:     slog.NewLogLogger(cfg.Log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	cfg.Log.Info("listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	cfg.Log.Info("shutting down", "grace", grace.String())
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		// Requests still running after the grace period are canceled.
		cancelBase()
		srv.Close()
		cfg.Log.Warn("requests canceled at shutdown", "error", err.Error())
	}
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	cfg.Log.Info("stopped")
	return nil
}

func runServe(e *env, args []string) error {
	const usage = `-model [NAME=]ID|DIR [-model ...] [-addr HOST:PORT] [-concurrency N] [-queue N] [-max-upload-mb N] [-timeout D] [-shutdown-timeout D] [-log-format json|text]

Endpoints (JSON unless noted; errors are {"error": {"message", "type", ...}}):
  POST /v1/audio/transcriptions   OpenAI-compatible, multipart: file, model, language, prompt,
  POST /v1/audio/translations       response_format, temperature, timestamp_granularities[]
  POST /v1/classify     {"model", "image": base64, "top_k"}
  POST /v1/zeroshot     {"model", "image", "labels": [...], "template", "top_k"}
  POST /v1/embeddings   OpenAI-compatible {"model", "input": text or [texts], "images": [base64]}
  POST /v1/caption      {"model", "image", "prompt", "beams", "max_new_tokens"}
  POST /v1/vqa          {"model", "image", "question", "beams", "max_new_tokens"}
  POST /v1/chat/completions  OpenAI-compatible {"model", "messages": [{"role", "content": text or
                        [{"type": "text", "text"}, {"type": "image_url", "image_url": {"url": "data:image/...;base64,..."}}]}],
                        "max_tokens"/"max_completion_tokens", "temperature", "top_p", "seed", "stream"} (LLaVA)
  GET  /v1/models, GET /healthz
A request's "model" names a loaded model (NAME, its id or path, or the last part of it);
when only one loaded model does the task, any name reaches it.`
	fs := flagSet("serve")
	weightsFlag(fs)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on")
	refs := &listFlag{}
	fs.Var(refs, "model", "model to serve: [NAME=]Hub id or directory (repeatable)")
	concurrency := fs.Int("concurrency", 2, "inferences run at once (each already uses every core)")
	queue := fs.Int("queue", 64, "requests that may wait for a free slot; more get 503")
	maxBeamsFlag := fs.Int("max-beams", 16, "widest beam search a request may ask for (400 above)")
	maxNewTokens := fs.Int("max-new-tokens", 256, "most tokens a caption, answer or chat request may ask for (400 above); a chat request that does not say gets this many at most")
	maxAudio := fs.Float64("max-audio-seconds", 4*3600, "longest audio a transcription request may send (400 above)")
	maxUpload := fs.Int64("max-upload-mb", 25, "largest request body in MiB (413 above)")
	timeout := fs.Duration("timeout", 5*time.Minute, "time limit of one request, waiting included (504 after)")
	grace := fs.Duration("shutdown-timeout", 30*time.Second, "on SIGINT/SIGTERM, how long requests in flight may finish")
	logFormat := fs.String("log-format", "text", "log format on standard error: text or json")
	fallback := fs.Float64("fallback", 0.2, "Whisper: temperature increment when a window fails OpenAI's quality thresholds (0: none)")
	pos, err := parse(e, fs, usage, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected arguments %q (models are given with -model)", pos)
	}
	if len(refs.items) == 0 {
		return usagef("no model: give one or more with -model")
	}
	if *concurrency < 1 || *queue < 0 || *maxUpload < 1 || *timeout <= 0 || *grace < 0 || *fallback < 0 {
		return usagef("-concurrency, -max-upload-mb and -timeout must be positive, -queue, -shutdown-timeout and -fallback not negative")
	}
	var h slog.Handler
	switch *logFormat {
	case "text":
		h = slog.NewTextHandler(e.stderr, nil)
	case "json":
		h = slog.NewJSONHandler(e.stderr, nil)
	default:
		return usagef("-log-format %q: want text or json", *logFormat)
	}
	log := slog.New(h)
	type named struct{ name, ref string }
	var wanted []named
	names := map[string]bool{}
	for _, ref := range refs.items {
		name, ref := splitModelFlag(ref)
		if names[name] {
			return usagef("model name %q given twice", name)
		}
		names[name] = true
		wanted = append(wanted, named{name, ref})
	}
	// Bind the port first: health checks see "loading" (503) until every
	// model is loaded.
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	cfg := serverConfig{MaxUpload: *maxUpload << 20, Concurrency: *concurrency, Queue: *queue, Timeout: *timeout, Fallback: *fallback,
		MaxBeams: *maxBeamsFlag, MaxNewTokens: *maxNewTokens, MaxAudioSeconds: *maxAudio, Log: log}
	if *queue == 0 {
		cfg.Queue = -1 // no waiting room: only free slots
	}
	srv := newServer(nil, cfg)
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	var models []*model
	defer func() {
		for _, m := range models {
			m.Close()
		}
	}()
	loadErr := make(chan error, 1)
	go func() {
		for _, w := range wanted {
			start := time.Now()
			m, err := e.loader.load(ctx, w.ref, "")
			if err != nil {
				loadErr <- err
				cancel()
				return
			}
			m.Name = w.name
			models = append(models, m)
			log.Info("loaded model", "name", m.Name, "family", m.Family(), "architecture", m.Arch(),
				"tasks", strings.Join(m.Tasks(), ","), "seconds", time.Since(start).Seconds())
		}
		srv.setModels(models)
		loadErr <- nil
	}()
	err = serveListener(ctx, ln, srv.handler(), srv.cfg, *grace)
	if lerr := <-loadErr; lerr != nil {
		return lerr
	}
	return err
}

// splitModelFlag splits "NAME=REF"; without a name the reference names the
// model.
func splitModelFlag(v string) (name, ref string) {
	if i := strings.IndexByte(v, '='); i > 0 && !strings.ContainsAny(v[:i], `/\`) {
		return v[:i], v[i+1:]
	}
	return v, v
}
