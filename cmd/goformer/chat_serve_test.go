package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goformer/goformer"
	"github.com/goformer/goformer/internal/testdata"
)

// llavaCase is the first generation case of the llava fixture: an image
// and a one-turn question.
type llavaCase struct {
	image, question string
	maxTokens       int
	text            string
}

func readLlavaCase(t *testing.T) llavaCase {
	t.Helper()
	var cs struct {
		Generate struct {
			MaxNewTokens int `json:"max_new_tokens"`
		} `json:"generate"`
		Cases []struct {
			Image  string `json:"image"`
			Prompt string `json:"prompt"`
			Text   string `json:"text"`
		} `json:"cases"`
	}
	testdata.Cases(t, "llava", &cs)
	if len(cs.Cases) == 0 {
		testdata.Missing(t, "llava generation cases")
	}
	c := cs.Cases[0]
	const pre, post = "USER: <image>\n", " ASSISTANT:"
	if !strings.HasPrefix(c.Prompt, pre) || !strings.HasSuffix(c.Prompt, post) {
		testdata.Missing(t, "a llava case whose prompt is one chat turn (got %q)", c.Prompt)
	}
	return llavaCase{image: c.Image, question: c.Prompt[len(pre) : len(c.Prompt)-len(post)], maxTokens: cs.Generate.MaxNewTokens, text: c.Text}
}

var chatModels testdata.Lazy[[]*model]

// chatTestModels are the llava fixture (named "llava") and a model that
// does not chat ("vit"), loaded once. They are kept apart from
// serverFixtures: a second captioning and question-answering model there
// would make those endpoints' requests without a model name ambiguous.
func chatTestModels(t *testing.T) []*model {
	t.Helper()
	return chatModels.Get(t, loadFixtureModels(t, []string{"llava", "vit"}))
}

func newChatServer(t *testing.T, cfg serverConfig, models ...*model) *httptest.Server {
	t.Helper()
	if models == nil {
		models = chatTestModels(t)
	}
	ts := httptest.NewServer(newServer(models, cfg).handler())
	t.Cleanup(ts.Close)
	return ts
}

// libraryChat is the library's answer to one question about an image.
func libraryChat(t *testing.T, m *model, img image.Image, question string, maxTokens int) *goformer.ChatResult {
	t.Helper()
	res, err := m.Model.(goformer.Chatter).Chat(context.Background(),
		[]goformer.Message{{Role: goformer.RoleUser, Text: question, Images: []image.Image{img}}},
		goformer.ChatOptions{MaxNewTokens: maxTokens})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func dataURL(t *testing.T, path string) string {
	t.Helper()
	return "data:image/png;base64," + b64File(t, path)
}

func chatBody(url, question string, extra map[string]any) map[string]any {
	body := map[string]any{
		"model": "llava",
		"messages": []any{map[string]any{"role": "user", "content": []any{
			map[string]any{"type": "image_url", "image_url": map[string]any{"url": url, "detail": "auto"}},
			map[string]any{"type": "text", "text": question},
		}}},
	}
	for k, v := range extra {
		body[k] = v
	}
	return body
}

// objectHead is what OpenAI's chat.completion and chat.completion.chunk
// objects start with, as a client decodes them.
type objectHead struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
}

// tokenUsage is the usage of a chat.completion or its last chunk.
type tokenUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// completion is OpenAI's chat.completion as a client decodes it.
type completion struct {
	objectHead
	Choices []struct {
		Index   int `json:"index"`
		Message struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage tokenUsage `json:"usage"`
}

func TestServeChatCompletions(t *testing.T) {
	c := readLlavaCase(t)
	ts := newChatServer(t, serverConfig{})
	llava := chatTestModels(t)[0]
	path := imagePath(t, c.image)
	img := loadImageFile(t, path)
	want := libraryChat(t, llava, img, c.question, c.maxTokens)
	if want.Text != c.text {
		t.Errorf("library answer %q, the fixture's %q", want.Text, c.text)
	}
	status, body := postJSON(t, ts.URL+"/v1/chat/completions", chatBody(dataURL(t, path), c.question,
		map[string]any{"max_tokens": c.maxTokens, "temperature": 0, "top_p": 1, "n": 1, "stop": nil, "user": "x", "frequency_penalty": 0}))
	if status != http.StatusOK {
		t.Fatalf("%d %s", status, body)
	}
	var got completion
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got.ID, "chatcmpl-") || got.Object != "chat.completion" || got.Created < time.Now().Add(-time.Hour).Unix() ||
		got.Model != "llava" || len(got.Choices) != 1 {
		t.Fatalf("response %s", body)
	}
	ch := got.Choices[0]
	if ch.Index != 0 || ch.Message.Role != "assistant" || ch.Message.Content != want.Text || ch.FinishReason != want.FinishReason {
		t.Errorf("choice %+v, want %q (%s)", ch, want.Text, want.FinishReason)
	}
	u := got.Usage
	if u.PromptTokens != want.PromptTokens || u.CompletionTokens != len(want.IDs) || u.TotalTokens != u.PromptTokens+u.CompletionTokens {
		t.Errorf("usage %+v, want %d prompt and %d completion tokens", u, want.PromptTokens, len(want.IDs))
	}
	// The raw JSON has the official field names, nulls included.
	for _, key := range []string{`"logprobs":null`, `"finish_reason":`, `"total_tokens":`} {
		if !bytes.Contains(bytes.ReplaceAll(body, []byte(" "), nil), []byte(key)) {
			t.Errorf("response lacks %s: %s", key, body)
		}
	}

	// max_completion_tokens wins over max_tokens; string content and a
	// conversation with history and a system message work; OpenAI model
	// names reach the chat model.
	status, body = postJSON(t, ts.URL+"/v1/chat/completions", map[string]any{
		"model": "gpt-4o",
		"messages": []any{
			map[string]any{"role": "developer", "content": "Be brief."},
			map[string]any{"role": "user", "content": []any{map[string]any{"type": "image_url", "image_url": map[string]any{"url": dataURL(t, path)}}, map[string]any{"type": "text", "text": c.question}}},
			map[string]any{"role": "assistant", "content": "A cat."},
			map[string]any{"role": "user", "content": "What color?"},
		},
		"max_tokens": 100, "max_completion_tokens": 3,
	})
	got = completion{}
	if status != http.StatusOK || json.Unmarshal(body, &got) != nil || got.Usage.CompletionTokens > 3 || got.Model != "llava" {
		t.Errorf("conversation: %d %s", status, body)
	}
	res, err := llava.Model.(goformer.Chatter).Chat(context.Background(), []goformer.Message{
		{Role: goformer.RoleSystem, Text: "Be brief."},
		{Role: goformer.RoleUser, Text: c.question, Images: []image.Image{img}},
		{Role: goformer.RoleAssistant, Text: "A cat."},
		{Role: goformer.RoleUser, Text: "What color?"},
	}, goformer.ChatOptions{MaxNewTokens: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Choices) == 1 && got.Choices[0].Message.Content != res.Text {
		t.Errorf("conversation: %q, library %q", got.Choices[0].Message.Content, res.Text)
	}
	// Sampling with a seed repeats itself.
	sampled := func() string {
		status, body := postJSON(t, ts.URL+"/v1/chat/completions", chatBody(dataURL(t, path), c.question,
			map[string]any{"max_tokens": 6, "temperature": 0.8, "top_p": 0.9, "seed": 42}))
		var got completion
		if status != http.StatusOK || json.Unmarshal(body, &got) != nil || len(got.Choices) != 1 {
			t.Fatalf("sampling: %d %s", status, body)
		}
		return got.Choices[0].Message.Content
	}
	if a, b := sampled(), sampled(); a != b {
		t.Errorf("seed 42 twice: %q and %q", a, b)
	}
}

// sseEvents reads a server-sent-event stream: the data of each event.
func sseEvents(t *testing.T, r io.Reader) []string {
	t.Helper()
	var events []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var data []string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if data != nil {
				events = append(events, strings.Join(data, "\n"))
				data = nil
			}
		case strings.HasPrefix(line, "data:"):
			data = append(data, strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		case strings.HasPrefix(line, ":"):
		default:
			t.Fatalf("not a server-sent-event line: %q", line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if data != nil {
		t.Fatalf("stream ends inside an event: %q", data)
	}
	return events
}

// chunk is OpenAI's chat.completion.chunk as a client decodes it.
type chunk struct {
	objectHead
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Role    string  `json:"role"`
			Content *string `json:"content"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *tokenUsage `json:"usage"`
}

func TestServeChatStreaming(t *testing.T) {
	c := readLlavaCase(t)
	ts := newChatServer(t, serverConfig{})
	path := imagePath(t, c.image)
	img := loadImageFile(t, path)
	want := libraryChat(t, chatTestModels(t)[0], img, c.question, c.maxTokens)
	raw, _ := json.Marshal(chatBody(dataURL(t, path), c.question,
		map[string]any{"max_tokens": c.maxTokens, "stream": true, "stream_options": map[string]any{"include_usage": true}}))
	resp, err := http.Post(ts.URL+"/v1/chat/completions", "application/json", bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("%d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	events := sseEvents(t, resp.Body)
	if len(events) < 4 || events[len(events)-1] != "[DONE]" {
		t.Fatalf("events %q: want the chunks then [DONE]", events)
	}
	var text strings.Builder
	var id string
	var finish string
	pieces := 0
	var usage *chunk
	for i, ev := range events[:len(events)-1] {
		var ck chunk
		if err := json.Unmarshal([]byte(ev), &ck); err != nil {
			t.Fatalf("event %d %q: %v", i, ev, err)
		}
		if ck.Object != "chat.completion.chunk" || ck.Model != "llava" || !strings.HasPrefix(ck.ID, "chatcmpl-") || ck.Created == 0 {
			t.Errorf("event %d: %s", i, ev)
		}
		if id == "" {
			id = ck.ID
		} else if ck.ID != id {
			t.Errorf("event %d has id %s, the first %s", i, ck.ID, id)
		}
		if ck.Usage != nil {
			if i != len(events)-2 || len(ck.Choices) != 0 {
				t.Errorf("usage in event %d of %d with %d choices", i, len(events)-1, len(ck.Choices))
			}
			usage = &ck
			continue
		}
		if len(ck.Choices) != 1 || ck.Choices[0].Index != 0 {
			t.Fatalf("event %d: %s", i, ev)
		}
		d := ck.Choices[0]
		if i == 0 && d.Delta.Role != "assistant" {
			t.Errorf("first chunk %s has no assistant role", ev)
		}
		if d.FinishReason != nil {
			finish = *d.FinishReason
			continue
		}
		if finish != "" {
			t.Errorf("chunk after the finish: %s", ev)
		}
		if d.Delta.Content != nil && *d.Delta.Content != "" {
			text.WriteString(*d.Delta.Content)
			pieces++
		}
	}
	if text.String() != want.Text || pieces < 2 {
		t.Errorf("streamed %q in %d pieces, library %q", text.String(), pieces, want.Text)
	}
	if finish != want.FinishReason {
		t.Errorf("finish reason %q, want %q", finish, want.FinishReason)
	}
	if usage == nil || usage.Usage.CompletionTokens != len(want.IDs) || usage.Usage.PromptTokens != want.PromptTokens ||
		usage.Usage.TotalTokens != len(want.IDs)+want.PromptTokens {
		t.Errorf("usage chunk %+v", usage)
	}
	// Input refused before the stream starts is an ordinary error.
	status, body := postJSON(t, ts.URL+"/v1/chat/completions", map[string]any{
		"stream": true, "messages": []any{map[string]any{"role": "user", "content": strings.Repeat("word ", 5000)}}})
	if msg := apiErr(t, body); status != http.StatusBadRequest || !strings.Contains(msg, "positions") {
		t.Errorf("over-long streamed prompt: %d %s", status, msg)
	}
}

func TestServeChatErrors(t *testing.T) {
	c := readLlavaCase(t)
	ts := newChatServer(t, serverConfig{MaxNewTokens: 64})
	url := dataURL(t, imagePath(t, c.image))
	user := func(parts ...any) map[string]any {
		return map[string]any{"messages": []any{map[string]any{"role": "user", "content": parts}}}
	}
	imagePart := func(u any) map[string]any { return map[string]any{"type": "image_url", "image_url": u} }
	for _, tc := range []struct {
		name   string
		body   map[string]any
		status int
		want   string
	}{
		{"http image", user(imagePart(map[string]any{"url": "https://example.com/cat.png"})), 400, "data: URL"},
		{"no url", user(imagePart(map[string]any{})), 400, "no url"},
		{"bad base64", user(imagePart(map[string]any{"url": "data:image/png;base64,!!!"})), 400, "base64"},
		{"not an image", user(imagePart(map[string]any{"url": "data:image/png;base64,aGVsbG8="})), 400, "image_url"},
		{"audio part", user(map[string]any{"type": "input_audio"}), 400, "input_audio"},
		{"text part without text", user(map[string]any{"type": "text"}), 400, "text"},
		{"no messages", map[string]any{"messages": []any{}}, 400, "no messages"},
		{"tool role", map[string]any{"messages": []any{map[string]any{"role": "tool", "content": "x"}}}, 400, "tool"},
		{"null content", map[string]any{"messages": []any{map[string]any{"role": "user", "content": nil}}}, 400, "no content"},
		{"numeric content", map[string]any{"messages": []any{map[string]any{"role": "user", "content": 3}}}, 400, "content"},
		{"last is assistant", map[string]any{"messages": []any{map[string]any{"role": "user", "content": "a"}, map[string]any{"role": "assistant", "content": "b"}}}, 400, "end with the user"},
		{"image in assistant", map[string]any{"messages": []any{map[string]any{"role": "assistant", "content": []any{imagePart(map[string]any{"url": url})}}, map[string]any{"role": "user", "content": "b"}}}, 400, "only user messages"},
		{"image token in text", map[string]any{"messages": []any{map[string]any{"role": "user", "content": "what is <image>?"}}}, 400, "image token"},
		{"max_tokens over the limit", map[string]any{"messages": []any{map[string]any{"role": "user", "content": "a"}}, "max_tokens": 65}, 400, "64"},
		{"max_completion_tokens 0", map[string]any{"messages": []any{map[string]any{"role": "user", "content": "a"}}, "max_completion_tokens": 0}, 400, "max_completion_tokens"},
		{"temperature 3", map[string]any{"messages": []any{map[string]any{"role": "user", "content": "a"}}, "temperature": 3}, 400, "temperature"},
		{"top_p 2", map[string]any{"messages": []any{map[string]any{"role": "user", "content": "a"}}, "top_p": 2}, 400, "top_p"},
		{"n 2", map[string]any{"messages": []any{map[string]any{"role": "user", "content": "a"}}, "n": 2}, 400, "n 2"},
		{"stop", map[string]any{"messages": []any{map[string]any{"role": "user", "content": "a"}}, "stop": []string{"\n"}}, 400, "stop"},
		{"tools", map[string]any{"messages": []any{map[string]any{"role": "user", "content": "a"}}, "tools": []any{map[string]any{"type": "function"}}}, 400, "tools"},
		{"json mode", map[string]any{"messages": []any{map[string]any{"role": "user", "content": "a"}}, "response_format": map[string]any{"type": "json_object"}}, 400, "response_format"},
		{"model that does not chat", map[string]any{"model": "vit", "messages": []any{map[string]any{"role": "user", "content": "a"}}}, 400, "chat"},
		{"unknown model", map[string]any{"model": "nope", "messages": []any{map[string]any{"role": "user", "content": "a"}}, "max_tokens": 2}, 200, ""},
	} {
		status, body := postJSON(t, ts.URL+"/v1/chat/completions", tc.body)
		if status != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.name, status, body, tc.status)
			continue
		}
		if tc.status != 200 {
			if msg := apiErr(t, body); !strings.Contains(msg, tc.want) {
				t.Errorf("%s: %q does not name %q", tc.name, msg, tc.want)
			}
		}
	}
	status, _, body := postRaw(t, ts.URL+"/v1/chat/completions", "application/json", []byte(`{"messages": [`))
	if msg := apiErr(t, body); status != http.StatusBadRequest || !strings.Contains(msg, "JSON") {
		t.Errorf("malformed JSON: %d %s", status, msg)
	}
	resp := get(t, ts.URL+"/v1/chat/completions")
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
		t.Errorf("GET: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

// watchedChatter counts the pieces a chat model streams and reports how
// each Chat call ended.
type watchedChatter struct {
	goformer.Model
	pieces atomic.Int64
	done   chan error
}

func (w *watchedChatter) Chat(ctx context.Context, msgs []goformer.Message, opt goformer.ChatOptions) (*goformer.ChatResult, error) {
	inner := opt.OnToken
	opt.OnToken = func(s string) {
		w.pieces.Add(1)
		if inner != nil {
			inner(s)
		}
	}
	res, err := w.Model.(goformer.Chatter).Chat(ctx, msgs, opt)
	if err == nil && res.FinishReason == goformer.FinishStop {
		err = errors.New("the model ended its answer by itself")
	}
	w.done <- err
	return res, err
}

func TestServeChatStopsWork(t *testing.T) {
	c := readLlavaCase(t)
	const limit = 3000
	w := &watchedChatter{Model: chatTestModels(t)[0].Model, done: make(chan error, 4)}
	watched := &model{Name: "llava", Model: w}
	url := dataURL(t, imagePath(t, c.image))

	// A streaming client that goes away stops the generation.
	ts := newChatServer(t, serverConfig{MaxNewTokens: limit}, watched)
	raw, _ := json.Marshal(chatBody(url, c.question, map[string]any{"max_tokens": limit, "stream": true}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", ts.URL+"/v1/chat/completions", bytes.NewReader(raw))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	for range 3 { // the role chunk, its blank line, the first piece
		if _, err := br.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	resp.Body.Close()
	select {
	case err := <-w.done:
		n := w.pieces.Load()
		t.Logf("generation ended after %d pieces: %v", n, err)
		if !errors.Is(err, context.Canceled) || n >= limit/2 {
			t.Errorf("after the client left: %v after %d of %d pieces", err, n, limit)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the generation went on after the client left")
	}

	// A request past the time limit stops with 504.
	ts = newChatServer(t, serverConfig{MaxNewTokens: limit, Timeout: 300 * time.Millisecond}, watched)
	start := time.Now()
	status, body := postJSON(t, ts.URL+"/v1/chat/completions", chatBody(url, c.question, map[string]any{"max_tokens": limit}))
	if status != http.StatusGatewayTimeout {
		t.Errorf("past the time limit: %d %s", status, body)
	}
	select {
	case err := <-w.done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("past the time limit: %v", err)
		}
		t.Logf("timed out after %v", time.Since(start))
	case <-time.After(20 * time.Second):
		t.Fatal("the generation went on past the time limit")
	}
}
