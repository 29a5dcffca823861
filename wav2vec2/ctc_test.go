package wav2vec2

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
)

var toyVocab = map[string]int{"<pad>": 0, "|": 1, "A": 2, "B": 3, "<s>": 4, "</s>": 5, "<unk>": 6, ".": 7, "'": 8, "S": 9}

func TestCTCDecode(t *testing.T) {
	tok, err := NewCTCTokenizer(toyVocab, DefaultTokenizerConfig())
	if err != nil {
		t.Fatal(err)
	}
	// Frames: pad A A pad A | | B pad B | pad <unknown id 42> — repeats
	// collapse only when adjacent, pad separates, | becomes a space.
	ids := []int{0, 2, 2, 0, 2, 1, 1, 3, 0, 3, 1, 0, 42}
	if got, want := tok.Decode(ids), "AA BB <unk>"; got != want {
		t.Errorf("Decode = %q, want %q", got, want)
	}
	words := tok.Words(ids)
	wantWords := []WordSpan{{"AA", 1, 5}, {"BB", 7, 10}, {"<unk>", 12, 13}}
	if !slices.Equal(words, wantWords) {
		t.Errorf("Words = %v, want %v", words, wantWords)
	}
	// Leading/trailing delimiters are stripped; " ." is cleaned up as
	// transformers' clean_up_tokenization does, " 'S" is not (its patterns
	// are lowercase).
	ids = []int{1, 2, 1, 7, 0, 1, 8, 9, 1, 1}
	if got, want := tok.Decode(ids), "A. 'S"; got != want {
		t.Errorf("Decode = %q, want %q", got, want)
	}
	if got := tok.Decode(nil); got != "" {
		t.Errorf("Decode(nil) = %q", got)
	}
	if got := tok.Words([]int{0, 0, 1}); len(got) != 0 {
		t.Errorf("Words of silence = %v", got)
	}

	cfg := DefaultTokenizerConfig()
	cfg.DoLowerCase, cfg.CleanUpTokenizationSpaces = true, false
	lower, _ := NewCTCTokenizer(toyVocab, cfg)
	if got, want := lower.Decode([]int{2, 1, 7, 5}), "a .</s>"; got != want {
		t.Errorf("lowercase, no clean-up: %q, want %q", got, want)
	}
}

func TestLoadCTCTokenizerConfigFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("vocab.json", `{"[PAD]": 0, "_": 1, "a": 2, "b": 3}`)
	write("tokenizer_config.json", `{"tokenizer_class": "Wav2Vec2CTCTokenizer", "pad_token": {"content": "[PAD]"}, "word_delimiter_token": "_", "do_lower_case": false}`)
	write("added_tokens.json", `{"<x>": 4}`)
	tok, err := LoadCTCTokenizer(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tok.Decode([]int{2, 0, 2, 1, 4, 3}), "aa <x>b"; got != want {
		t.Errorf("Decode = %q, want %q", got, want)
	}
	write("vocab.json", `{"eng": {"a": 1}}`)
	if _, err := LoadCTCTokenizer(dir); !errors.Is(err, ErrTokenizer) {
		t.Errorf("nested vocab: err = %v, want ErrTokenizer", err)
	}
	write("vocab.json", `{"a": 1`)
	if _, err := LoadCTCTokenizer(dir); !errors.Is(err, ErrTokenizer) {
		t.Errorf("corrupt vocab: err = %v, want ErrTokenizer", err)
	}
	os.Remove(filepath.Join(dir, "vocab.json"))
	if _, err := LoadCTCTokenizer(dir); !errors.Is(err, ErrTokenizer) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing vocab: err = %v", err)
	}
}

func TestWordTimestamps(t *testing.T) {
	n, c, _ := smallNetwork(t, variants[0], 3)
	m := smallModel(t, n, DefaultFeatureExtractorConfig())
	tok := m.Tokenizer()
	pcm := make([]float32, 400)
	for i := range pcm {
		pcm[i] = float32(i%37) / 37
	}
	res, err := m.Transcribe(context.Background(), pcm, Options{WordTimestamps: true})
	if err != nil {
		t.Fatal(err)
	}
	logits, _ := m.Logits(context.Background(), pcm)
	ids := tensor.ArgmaxRows(logits)
	spans := tok.Words(ids)
	if len(res.Words) != len(spans) {
		t.Fatalf("%d words, want %d", len(res.Words), len(spans))
	}
	sec := float64(c.InputsToLogitsRatio()) / 16000
	for i, w := range res.Words {
		if w.Text != spans[i].Text || w.Start != float64(spans[i].Start)*sec || w.End != float64(spans[i].End)*sec {
			t.Errorf("word %d = %+v, spans %+v", i, w, spans[i])
		}
	}
	t.Logf("text %q, %d words", res.Text, len(res.Words))
}

func TestConcurrentTranscribe(t *testing.T) {
	n, _, _ := smallNetwork(t, variants[1], 5)
	m := smallModel(t, n, DefaultFeatureExtractorConfig())
	pcm := make([]float32, 900)
	for i := range pcm {
		pcm[i] = float32((i*7)%23) / 23
	}
	want, err := m.Logits(context.Background(), pcm)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := m.Logits(context.Background(), pcm)
			if err != nil || !slices.Equal(got.Data(), want.Data()) {
				t.Errorf("concurrent call differs (err %v)", err)
			}
		}()
	}
	wg.Wait()
}

func TestLoadRejectsOtherModels(t *testing.T) {
	dir := testdata.Fixture(t, "vit-gpt2")
	if _, err := Load(filepath.Join(dir, "model")); err == nil {
		t.Fatal("Load of a vision-encoder-decoder checkpoint succeeded")
	} else if !errors.Is(err, nn.ErrConfig) && !errors.Is(err, nn.ErrUnsupportedArchitecture) {
		t.Errorf("err = %v", err)
	}
	if _, err := Load(t.TempDir()); err == nil {
		t.Error("Load of an empty directory succeeded")
	}
}
