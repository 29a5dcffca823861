package main

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

func TestChatCommand(t *testing.T) {
	c := readLlavaCase(t)
	dir := fixtureModel(t, "llava")
	path := imagePath(t, c.image)
	img := loadImageFile(t, path)
	want := libraryChat(t, chatTestModels(t)[0], img, c.question, c.maxTokens)
	if want.Text != c.text {
		t.Errorf("library answer %q, the fixture's %q", want.Text, c.text)
	}
	n := strconv.Itoa(c.maxTokens)
	// The prompt is the rest of the command line; the answer ends with a
	// newline.
	words := strings.Fields(c.question)
	args := append([]string{"chat", "-model", dir, "-image", path, "-max-tokens", n}, words...)
	if out := mustRun(t, args...); out != want.Text+"\n" {
		t.Errorf("chat: %q, want %q", out, want.Text+"\n")
	}
	// JSON.
	out := mustRun(t, "chat", "-model", dir, "-image", path, "-max-tokens", n, "-format", "json", c.question)
	var got ChatAnswer
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got.Text != want.Text || got.FinishReason != want.FinishReason || got.CompletionTokens != len(want.IDs) ||
		got.PromptTokens != want.PromptTokens || got.Prompt != c.question || len(got.Images) != 1 {
		t.Errorf("json %+v, want %q", got, want.Text)
	}
	// The prompt from standard input.
	saved := stdin
	stdin = strings.NewReader(c.question)
	defer func() { stdin = saved }()
	if out := mustRun(t, "chat", "-model", dir, "-image", path, "-max-tokens", n, "-"); out != want.Text+"\n" {
		t.Errorf("prompt on stdin: %q, want %q", out, want.Text+"\n")
	}
	// -o writes the answer to a file.
	file := t.TempDir() + "/answer.txt"
	if out := mustRun(t, "chat", "-model", dir, "-image", path, "-max-tokens", n, "-o", file, c.question); out != "" {
		t.Errorf("-o: %q on stdout", out)
	}
	if b := readFile(t, file); string(b) != want.Text+"\n" {
		t.Errorf("-o file: %q", b)
	}
	// A system message and sampling.
	out = mustRun(t, "chat", "-model", dir, "-image", path, "-max-tokens", "4", "-system", "Be brief.",
		"-temperature", "0.7", "-top-p", "0.9", "-top-k", "20", "-seed", "3", c.question)
	if out2 := mustRun(t, "chat", "-model", dir, "-image", path, "-max-tokens", "4", "-system", "Be brief.",
		"-temperature", "0.7", "-top-p", "0.9", "-top-k", "20", "-seed", "3", c.question); out2 != out {
		t.Errorf("-seed 3 twice: %q and %q", out, out2)
	}
}

func TestChatFlags(t *testing.T) {
	img := imagePath(t, "chelsea.png")
	missing := "./no/such/model"
	for _, c := range []struct {
		args []string
		flag string
	}{
		{[]string{"-top-p", "3"}, "-top-p"},
		{[]string{"-temperature", "-1"}, "-temperature"},
		{[]string{"-temperature", "NaN"}, "-temperature"},
		{[]string{"-max-tokens", "-1"}, "-max-tokens"},
		{[]string{"-top-k", "-2"}, "-top-k"},
		{[]string{"-format", "jsonl"}, "-format"},
		{[]string{"-seed", "x"}, "-seed"},
	} {
		wantUsage(t, c.flag, append(append([]string{"chat", "-model", missing, "-image", img}, c.args...), "hello")...)
	}
	wantUsage(t, "no prompt", "chat", "-model", missing)
	// A missing image fails before the model loads, naming the file.
	_, stderr, code := runCLI(t, "chat", "-model", missing, "-image", "nope.png", "hi")
	oneErrorLine(t, stderr, "nope.png")
	if code != exitError {
		t.Errorf("missing image: exit %d", code)
	}
	// Options the model refuses once it is known name the flag.
	llava := fixtureModel(t, "llava")
	wantUsage(t, "-max-tokens", "chat", "-model", llava, "-image", img, "-max-tokens", "100000000", "hi")
	// A model that does not chat.
	_, stderr, code = runCLI(t, "chat", "-model", fixtureModel(t, "vit"), "hi")
	oneErrorLine(t, stderr, "classify", "chat")
	if code != exitError {
		t.Errorf("vit: exit %d", code)
	}
	// An over-long prompt is one error line.
	_, stderr, code = runCLI(t, "chat", "-model", llava, strings.Repeat("word ", 5000))
	oneErrorLine(t, stderr, "positions")
	if code != exitError {
		t.Errorf("over-long prompt: exit %d", code)
	}
}

func TestChatCaptionVQA(t *testing.T) {
	// LLaVA captions and answers through the caption and vqa commands.
	c := readLlavaCase(t)
	llava := fixtureModel(t, "llava")
	path := imagePath(t, c.image)
	img := loadImageFile(t, path)
	m := chatTestModels(t)[0]
	want := libraryChat(t, m, img, c.question, 4)
	if out := mustRun(t, "vqa", "-model", llava, "-question", c.question, "-max-tokens", "4", path); out != strings.TrimSpace(want.Text)+"\n" {
		t.Errorf("vqa: %q, want %q", out, want.Text)
	}
	if out := mustRun(t, "caption", "-model", llava, "-max-tokens", "3", path); strings.TrimSpace(out) == "" {
		t.Error("caption: no text")
	}
}
