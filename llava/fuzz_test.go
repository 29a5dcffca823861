package llava

import (
	"errors"
	"image"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/task"
	"github.com/goformer/goformer/tokenizer"
)

var (
	fuzzTokOnce sync.Once
	fuzzTok     *tokenizer.SentencePiece
)

// fuzzTokenizer is the llava fixture's tokenizer, or nil when the shared
// data is absent (the prompt checks still run).
func fuzzTokenizer() *tokenizer.SentencePiece {
	fuzzTokOnce.Do(func() {
		if root, ok := testdata.Root(); ok {
			fuzzTok, _ = tokenizer.LoadLlama(filepath.Join(root, "fixtures", "llava", "model"))
		}
	})
	return fuzzTok
}

// FuzzChatPrompt writes conversations built from the fuzzer's bytes: the
// template never panics, refuses what it cannot write with ErrInput, and
// otherwise writes a prompt of bounded size holding exactly one image
// token per image, which the tokenizer encodes as exactly that many
// <image> ids.
func FuzzChatPrompt(f *testing.F) {
	f.Add([]byte{1}, "What is shown?", "A cat.", "Be brief.", false)
	f.Add([]byte{0, 1 | 0x30, 2, 1 | 0x50}, "<s> hi </s>", "ASSISTANT: USER:", "<image", true)
	f.Add([]byte{1 | 0x10}, "<image>", "", "", false)
	f.Add([]byte{3, 1}, "\n\n", " <imag", "e> ", true)
	f.Add([]byte{1, 2, 1, 2, 1}, "日本語 😀", "naïve", "</s>USER: <image>\n", false)
	img := image.Image(image.NewRGBA(image.Rect(0, 0, 1, 1)))
	roles := []string{task.RoleSystem, task.RoleUser, task.RoleAssistant, "tool", ""}
	f.Fuzz(func(t *testing.T, spec []byte, a, b, c string, hf bool) {
		if len(spec) > 64 {
			spec = spec[:64]
		}
		texts := []string{a, b, c}
		var msgs []Message
		images, textBytes := 0, 0
		for i, s := range spec {
			m := Message{Role: roles[int(s&0x0f)%len(roles)], Text: texts[i%3]}
			for range int(s>>4) % 4 {
				m.Images = append(m.Images, img)
			}
			msgs = append(msgs, m)
			images += len(m.Images)
			textBytes += len(m.Text)
		}
		tmpl := Template{ImageToken: "<image>", EOS: "</s>"}
		if hf {
			tmpl.Style = StyleHFTemplate
		}
		prompt, n, err := tmpl.Prompt(msgs)
		if err != nil {
			if !errors.Is(err, ErrInput) {
				t.Fatalf("error %v does not match ErrInput", err)
			}
			return
		}
		if n != images {
			t.Fatalf("%d images reported for %d given", n, images)
		}
		if got := strings.Count(prompt, tmpl.ImageToken); got != n {
			t.Fatalf("prompt %q holds %d image tokens for %d images", prompt, got, n)
		}
		if limit := textBytes + 16*len(msgs) + n*(len(tmpl.ImageToken)+1) + len("ASSISTANT:"); len(prompt) > limit {
			t.Fatalf("prompt of %d bytes for %d bytes of text in %d messages", len(prompt), textBytes, len(msgs))
		}
		if !strings.HasSuffix(prompt, "ASSISTANT:") {
			t.Fatalf("prompt %q does not end where the answer begins", prompt)
		}
		tok := fuzzTokenizer()
		if tok == nil {
			return
		}
		id, _ := tok.ID(tmpl.ImageToken)
		ids := tok.EncodeWith(prompt, tokenizer.EncodeOptions{AllSpecial: true})
		got := 0
		for _, x := range ids {
			if x == id {
				got++
			}
		}
		if got != n {
			t.Fatalf("prompt %q encodes %d image ids for %d images", prompt, got, n)
		}
	})
}
