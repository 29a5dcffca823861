package llava

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"image"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goformer/goformer/internal/expected"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/task"
)

func tiny() image.Image { return image.NewRGBA(image.Rect(0, 0, 4, 4)) }

func TestTemplatePrompt(t *testing.T) {
	img := tiny()
	user := func(text string, n int) Message {
		return Message{Role: task.RoleUser, Text: text, Images: slices.Repeat([]image.Image{img}, n)}
	}
	asst := func(text string) Message { return Message{Role: task.RoleAssistant, Text: text} }
	sys := Message{Role: task.RoleSystem, Text: "Be brief."}
	for _, c := range []struct {
		style  PromptStyle
		msgs   []Message
		want   string
		images int
	}{
		{StyleVicuna, []Message{user("What is shown?", 1)}, "USER: <image>\nWhat is shown? ASSISTANT:", 1},
		{StyleVicuna, []Message{user("Hi", 0)}, "USER: Hi ASSISTANT:", 0},
		{StyleVicuna, []Message{user("", 1)}, "USER: <image>\nASSISTANT:", 1},
		{StyleVicuna, []Message{user("Compare.", 2)}, "USER: <image>\n<image>\nCompare. ASSISTANT:", 2},
		{StyleVicuna, []Message{sys, user("What is shown?", 1), asst("A cat."), user("What color?", 0)},
			"Be brief. USER: <image>\nWhat is shown? ASSISTANT: A cat.</s>USER: What color? ASSISTANT:", 1},
		{StyleHFTemplate, []Message{sys, user("What is shown?", 1), asst("A cat."), user("What color?", 0)},
			"Be brief. USER: <image>\nWhat is shown? ASSISTANT: A cat. USER: What color? ASSISTANT:", 1},
		{StyleHFTemplate, []Message{user("a", 1), asst("b"), user("c", 1)},
			"USER: <image>\na ASSISTANT: b USER: <image>\nc ASSISTANT:", 2},
	} {
		got, n, err := Template{Style: c.style}.Prompt(c.msgs)
		if err != nil || got != c.want || n != c.images {
			t.Errorf("%v %d messages: %q, %d images (%v); want %q, %d", c.style, len(c.msgs), got, n, err, c.want, c.images)
		}
	}
	// Another image token and end token.
	got, _, err := Template{ImageToken: "<img>", EOS: "<|end|>"}.Prompt([]Message{user("a", 1), asst("b"), user("c", 0)})
	if want := "USER: <img>\na ASSISTANT: b<|end|>USER: c ASSISTANT:"; err != nil || got != want {
		t.Errorf("custom tokens: %q (%v), want %q", got, err, want)
	}
}

func TestTemplatePromptErrors(t *testing.T) {
	img := tiny()
	for _, c := range []struct {
		msgs []Message
		want string
	}{
		{nil, "no messages"},
		{[]Message{{Role: task.RoleAssistant, Text: "hi"}}, "end with the user"},
		{[]Message{{Role: task.RoleUser, Text: "a"}, {Role: task.RoleSystem, Text: "b"}}, "end with the user"},
		{[]Message{{Role: "tool", Text: "a"}, {Role: task.RoleUser, Text: "b"}}, `"tool"`},
		{[]Message{{Role: task.RoleUser}}, "neither text nor images"},
		{[]Message{{Role: task.RoleSystem, Text: "x", Images: []image.Image{img}}, {Role: task.RoleUser, Text: "b"}}, "only user messages"},
		{[]Message{{Role: task.RoleUser, Text: "a", Images: []image.Image{nil}}}, "nil"},
		{[]Message{{Role: task.RoleUser, Text: "what is <image>?"}}, "image token"},
		{[]Message{{Role: task.RoleUser, Images: slices.Repeat([]image.Image{img}, MaxImages+1)}}, "images"},
		{[]Message{{Role: task.RoleUser, Text: strings.Repeat("a", MaxTextBytes+1)}}, "bytes"},
		{slices.Repeat([]Message{{Role: task.RoleUser, Text: "a"}}, MaxMessages+1), "messages"},
	} {
		_, _, err := Template{}.Prompt(c.msgs)
		if !errors.Is(err, ErrInput) || !errors.Is(err, task.ErrInput) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%d messages: error %v, want ErrInput naming %q", len(c.msgs), err, c.want)
		}
	}
}

func TestReadChatTemplate(t *testing.T) {
	const hf = "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}{% endif %}" +
		"{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\\n' }}{% endfor %}" +
		"{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] + ' '}}{% endfor %}" +
		"{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
	for _, c := range []struct {
		file, body string
		want       PromptStyle
	}{
		{"tokenizer_config.json", `{"legacy": false}`, StyleVicuna},
		{"tokenizer_config.json", `{"chat_template": "` + strings.ReplaceAll(hf, `"`, `\"`) + `"}`, StyleHFTemplate},
		{"chat_template.json", `{"chat_template": "` + strings.ReplaceAll(hf, `"`, `\"`) + `"}`, StyleHFTemplate},
		{"tokenizer_config.json", `{"chat_template": [{"name": "default", "template": "` + hf + `"}]}`, StyleHFTemplate},
		{"tokenizer_config.json", `{"chat_template": "{{ messages[0]['content'] }}"}`, StyleVicuna},
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, c.file), []byte(c.body), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := readChatTemplate(dir)
		if err != nil || got != c.want {
			t.Errorf("%s %.60s: %v (%v), want %v", c.file, c.body, got, err, c.want)
		}
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), []byte(`{"chat_template": 3}`), 0o644)
	if _, err := readChatTemplate(dir); !errors.Is(err, nn.ErrConfig) {
		t.Errorf("malformed chat_template: %v", err)
	}
}

// chatCase returns the fixture's model, the question and image of its
// first case (which must be one chat turn) and its cases.
func chatCase(t *testing.T) (*Model, string, image.Image, llavaCases) {
	t.Helper()
	m, dir := loadFixture(t)
	cs := readCases(t, dir)
	if len(cs.Cases) == 0 {
		testdata.Missing(t, "fixtures/llava/cases.json has no generation cases")
	}
	c := cs.Cases[0]
	q, ok := oneTurnQuestion(c.Prompt)
	if !ok {
		testdata.Missing(t, "a llava case whose prompt is one chat turn (got %q)", c.Prompt)
	}
	return m, q, readImage(t, c.Image), cs
}

func TestChat(t *testing.T) {
	m, q, img, cs := chatCase(t)
	ctx := context.Background()
	msgs := []Message{{Role: task.RoleUser, Text: q, Images: []image.Image{img}}}
	n := cs.Generate.MaxNewTokens
	var pieces []string
	res, err := m.Chat(ctx, msgs, ChatOptions{MaxNewTokens: n, OnToken: func(s string) { pieces = append(pieces, s) }})
	if err != nil {
		t.Fatal(err)
	}
	// Chat is Encode, the image pipeline and greedy search.
	ids, imgs, err := m.Encode(msgs)
	if err != nil {
		t.Fatal(err)
	}
	px, err := m.PixelValues(imgs)
	if err != nil {
		t.Fatal(err)
	}
	opt := m.DefaultOptions()
	opt.MaxNewTokens = n
	want, err := m.Generate(ctx, ids, px, opt)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.IDs, want[len(ids):]) {
		t.Errorf("Chat ids %v, Generate %v", res.IDs, want[len(ids):])
	}
	if res.Text != m.Tokenizer().Decode(res.IDs, true) {
		t.Errorf("text %q is not the decoded ids %q", res.Text, m.Tokenizer().Decode(res.IDs, true))
	}
	if got := strings.Join(pieces, ""); got != res.Text || len(pieces) < 2 {
		t.Errorf("streamed %q in %d pieces, text %q", got, len(pieces), res.Text)
	}
	if rows := m.Config().FeatureRows(); res.PromptTokens != len(ids)-1+rows {
		t.Errorf("prompt tokens %d, want %d", res.PromptTokens, len(ids)-1+rows)
	}
	wantFinish := task.FinishLength
	if len(res.IDs) < n {
		wantFinish = task.FinishStop
	}
	if res.FinishReason != wantFinish {
		t.Errorf("finish reason %q after %d of %d tokens", res.FinishReason, len(res.IDs), n)
	}
	t.Logf("%q: %q (%s)", q, res.Text, res.FinishReason)

	// Sampling: a seed repeats the answer.
	s1, err := m.Chat(ctx, msgs, ChatOptions{MaxNewTokens: 8, Temperature: 0.9, TopP: 0.95, TopK: 40, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	s2, err := m.Chat(ctx, msgs, ChatOptions{MaxNewTokens: 8, Temperature: 0.9, TopP: 0.95, TopK: 40, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s1.IDs, s2.IDs) {
		t.Errorf("seed 7 twice: %v and %v", s1.IDs, s2.IDs)
	}
	// A text-only conversation.
	if _, err := m.Chat(ctx, []Message{{Role: task.RoleUser, Text: "Hello"}}, ChatOptions{MaxNewTokens: 3}); err != nil {
		t.Errorf("text-only chat: %v", err)
	}
}

func TestChatConcurrent(t *testing.T) {
	m, q, img, _ := chatCase(t)
	msgs := []Message{{Role: task.RoleUser, Text: q, Images: []image.Image{img}}}
	want, err := m.Chat(context.Background(), msgs, ChatOptions{MaxNewTokens: 5})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := m.Chat(context.Background(), msgs, ChatOptions{MaxNewTokens: 5})
			if err == nil && !slices.Equal(res.IDs, want.IDs) {
				err = errors.New("different ids: " + res.Text)
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func TestChatBadInput(t *testing.T) {
	m, q, img, _ := chatCase(t)
	ctx := context.Background()
	one := []Message{{Role: task.RoleUser, Text: q, Images: []image.Image{img}}}
	maxPos := m.Config().Text.MaxPositions
	for _, c := range []struct {
		name string
		msgs []Message
		opt  ChatOptions
		want string
	}{
		{"no messages", nil, ChatOptions{}, "no messages"},
		{"negative tokens", one, ChatOptions{MaxNewTokens: -1}, "max new tokens"},
		{"too many tokens", one, ChatOptions{MaxNewTokens: maxPos}, "room for"},
		{"negative temperature", one, ChatOptions{Temperature: -1}, "temperature"},
		{"top_p", one, ChatOptions{TopP: 1.5}, "top_p"},
		{"top_k", one, ChatOptions{TopK: -1}, "top_k"},
		{"empty image", []Message{{Role: task.RoleUser, Text: "x", Images: []image.Image{image.NewRGBA(image.Rect(0, 0, 0, 0))}}}, ChatOptions{}, ""},
		{"too long", []Message{{Role: task.RoleUser, Text: strings.Repeat("word ", maxPos)}}, ChatOptions{}, "positions"},
	} {
		_, err := m.Chat(ctx, c.msgs, c.opt)
		if !errors.Is(err, task.ErrInput) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want ErrInput naming %q", c.name, err, c.want)
		}
	}
	var oe *task.OptionError
	if _, err := m.Chat(ctx, one, ChatOptions{TopP: 2}); !errors.As(err, &oe) || oe.Option != "top_p" {
		t.Errorf("top_p 2: %v, want an OptionError naming top_p", err)
	}
	// Without a tokenizer or a processor the text and image calls fail
	// clearly.
	noTok, err := m.WithTokenizer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := noTok.Chat(ctx, one, ChatOptions{}); err == nil || !strings.Contains(err.Error(), "tokenizer") {
		t.Errorf("no tokenizer: %v", err)
	}
	if _, err := m.WithProcessor(nil).Chat(ctx, one, ChatOptions{}); err == nil || !strings.Contains(err.Error(), "processor") {
		t.Errorf("no processor: %v", err)
	}
	// Ids and pixels that do not match.
	ids, imgs, err := m.Encode(one)
	if err != nil {
		t.Fatal(err)
	}
	px, err := m.PixelValues(append(imgs, imgs...))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Generate(ctx, ids, px, m.DefaultOptions()); !errors.Is(err, ErrInput) {
		t.Errorf("two images for one <image>: %v", err)
	}
	if _, err := m.Generate(ctx, ids, nil, m.DefaultOptions()); !errors.Is(err, ErrInput) {
		t.Errorf("no pixels for an <image>: %v", err)
	}
	if _, err := m.Generate(ctx, []int{1, m.Config().Text.VocabSize + 5}, nil, m.DefaultOptions()); !errors.Is(err, task.ErrInput) {
		t.Errorf("id outside the vocabulary: %v", err)
	}
	if _, err := m.Project(px); !errors.Is(err, ErrInput) {
		t.Errorf("Project of pixels: %v", err)
	}
	bad := px.Slice(3, 0, 100).Contiguous()
	if _, err := m.ImageFeatures(ctx, bad); !errors.Is(err, task.ErrInput) {
		t.Errorf("pixels of the wrong size: %v", err)
	}
}

func TestChatCanceled(t *testing.T) {
	m, q, img, _ := chatCase(t)
	msgs := []Message{{Role: task.RoleUser, Text: q, Images: []image.Image{img}}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Chat(ctx, msgs, ChatOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled context: %v", err)
	}
	// Canceled while streaming: generation stops at the next token.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	n := 0
	start := time.Now()
	_, err := m.Chat(ctx, msgs, ChatOptions{MaxNewTokens: 200, OnToken: func(string) {
		n++
		if n == 2 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) || n > 4 {
		t.Errorf("canceled after 2 pieces: %v after %d pieces (%v)", err, n, time.Since(start))
	}
}

func TestTaskAdapter(t *testing.T) {
	m, q, img, _ := chatCase(t)
	ctx := context.Background()
	tm := m.AsTask("LlavaForConditionalGeneration", "dir")
	c := tm.(task.Captioner)
	capt, err := c.Caption(ctx, img, task.CaptionOptions{MaxNewTokens: 4})
	if err != nil {
		t.Fatal(err)
	}
	want, err := m.Chat(ctx, []Message{{Role: task.RoleUser, Text: CaptionPrompt, Images: []image.Image{img}}}, ChatOptions{MaxNewTokens: 4})
	if err != nil {
		t.Fatal(err)
	}
	if capt.Text != strings.TrimSpace(want.Text) || !slices.Equal(capt.IDs[len(capt.IDs)-len(want.IDs):], want.IDs) {
		t.Errorf("caption %q %v, chat %q %v", capt.Text, capt.IDs, want.Text, want.IDs)
	}
	ans, err := tm.(task.Answerer).Answer(ctx, img, q, task.AnswerOptions{MaxNewTokens: 3, Beams: 2})
	if err != nil || ans.Question != q || len(ans.IDs) == 0 {
		t.Errorf("answer %+v, %v", ans, err)
	}
	for _, opt := range []any{
		task.CaptionOptions{Beams: -1}, task.CaptionOptions{Beams: MaxBeams + 1}, task.AnswerOptions{MaxNewTokens: -3},
		task.ChatOptions{Temperature: -2}, task.ChatOptions{MaxNewTokens: 1 << 30},
	} {
		var oe *task.OptionError
		if err := tm.(task.OptionChecker).CheckOptions(opt); !errors.As(err, &oe) || !errors.Is(err, task.ErrInput) {
			t.Errorf("CheckOptions(%+v): %v", opt, err)
		}
	}
	if _, err := tm.(task.Answerer).Answer(ctx, img, "  ", task.AnswerOptions{}); !errors.Is(err, task.ErrInput) {
		t.Errorf("empty question: %v", err)
	}
}

func TestLoadClose(t *testing.T) {
	dir := filepath.Join(testdataFixture(t), "model")
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	c := m.WithProcessor(m.Processor())
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close (through a copy): %v", err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("third Close: %v", err)
	}
	// New never owns the store.
	store, cfg := expected.StoreAndConfig(t, dir, LoadConfig)
	n, err := New(cfg, store.Root())
	if err != nil {
		t.Fatal(err)
	}
	expected.CloseKeepsStore(t, n, store)
}

func TestMissingWeights(t *testing.T) {
	store, cfg := expected.StoreAndConfig(t, filepath.Join(testdataFixture(t), "model"), LoadConfig)
	gone := []string{
		"vision_tower.vision_model.embeddings.class_embedding",
		"multi_modal_projector.linear_2.bias",
		"language_model.model.norm.weight",
	}
	for _, n := range gone {
		store.Delete(n)
	}
	_, err := New(cfg, store.Root())
	expected.MissingWeights(t, err, gone...)
}

func TestLoadNewLayout(t *testing.T) {
	// Checkpoints saved by transformers 4.52 and later name the weights
	// model.language_model.*, model.vision_tower.*,
	// model.multi_modal_projector.* and lm_head.*.
	src := filepath.Join(testdataFixture(t), "model")
	raw, err := os.ReadFile(filepath.Join(src, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(raw)
	var header map[string]json.RawMessage
	if err := json.Unmarshal(raw[8:8+n], &header); err != nil {
		t.Fatal(err)
	}
	renamed := map[string]json.RawMessage{}
	for name, v := range header {
		switch {
		case name == "__metadata__":
		case strings.HasPrefix(name, "language_model.model."):
			name = "model.language_model." + strings.TrimPrefix(name, "language_model.model.")
		case strings.HasPrefix(name, "language_model.lm_head."):
			name = strings.TrimPrefix(name, "language_model.")
		default:
			name = "model." + name
		}
		renamed[name] = v
	}
	h, err := json.Marshal(renamed)
	if err != nil {
		t.Fatal(err)
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	out = append(append(out, h...), raw[8+n:]...)
	dir := t.TempDir()
	for _, f := range []string{"config.json", "preprocessor_config.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "generation_config.json"} {
		if err := os.Symlink(filepath.Join(src, f), filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "model.safetensors"), out, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ref, _ := loadFixture(t)
	msgs := []Message{{Role: task.RoleUser, Text: "Hi", Images: []image.Image{tiny()}}}
	a, err := m.Chat(context.Background(), msgs, ChatOptions{MaxNewTokens: 4})
	if err != nil {
		t.Fatal(err)
	}
	b, err := ref.Chat(context.Background(), msgs, ChatOptions{MaxNewTokens: 4})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.IDs, b.IDs) {
		t.Errorf("new layout %v, Hub layout %v", a.IDs, b.IDs)
	}
}
