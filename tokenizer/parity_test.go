package tokenizer

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/goformer/goformer/internal/expected"
	"github.com/goformer/goformer/internal/testdata"
)

// streamDecode pushes ids through sd, then flushes it, and returns all the
// text it emitted.
func streamDecode(sd *StreamDecoder, ids []int) string {
	var sb strings.Builder
	for _, id := range ids {
		sb.WriteString(sd.Push(id))
	}
	sb.WriteString(sd.Flush())
	return sb.String()
}

// loadKind loads path with load (LoadFromDir or LoadTokenizerJSON) and
// checks that it gives a T.
func loadKind[T Tokenizer](load func(string, ...Option) (Tokenizer, error), path string) (T, error) {
	tk, err := load(path)
	if err != nil {
		var zero T
		return zero, err
	}
	v, ok := tk.(T)
	if !ok {
		return v, fmt.Errorf("loading %s gave %T, want %T", path, tk, v)
	}
	return v, nil
}

// loadAs is loadKind that fails t on an error.
func loadAs[T Tokenizer](t testing.TB, load func(string, ...Option) (Tokenizer, error), path string) T {
	t.Helper()
	v, err := loadKind[T](load, path)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// mustLoad calls a loader (LoadBPE, LoadWordPiece, LoadFromDir, ...) and
// fails t on its error.
func mustLoad[T any](t testing.TB, load func(string, ...Option) (T, error), path string, opts ...Option) T {
	t.Helper()
	v, err := load(path, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func eqIDs(t *testing.T, what string, got, want []int) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got %v\nwant %v", what, got, want)
	}
}

func eqText(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s:\n got %q\nwant %q", what, got, want)
	}
}

// TestParity_tokenizers checks fixtures/tokenizers: CLIP ids and BERT ids
// and tokens, with the vocabularies of ../shared/vocab and of the CLIP and
// BLIP fixture models.
func TestParity_tokenizers(t *testing.T) {
	var cases struct {
		CLIP []struct {
			Text string `json:"text"`
			IDs  []int  `json:"ids"`
		} `json:"clip"`
		Bert []struct {
			Text   string   `json:"text"`
			IDs    []int    `json:"ids"`
			Tokens []string `json:"tokens"`
		} `json:"bert"`
	}
	testdata.Cases(t, "tokenizers", &cases)
	if len(cases.CLIP) == 0 || len(cases.Bert) == 0 {
		t.Fatal("fixtures/tokenizers/cases.json has no clip or bert cases")
	}
	for _, dir := range []string{testdata.Path(t, "vocab", "clip"), filepath.Join(testdata.Fixture(t, "clip"), "model")} {
		tok := mustLoad(t, LoadCLIP, dir)
		for i, c := range cases.CLIP {
			t.Run(fmt.Sprintf("clip/%s/%d", filepath.Base(filepath.Dir(dir)), i), func(t *testing.T) {
				eqIDs(t, fmt.Sprintf("Encode(%q)", c.Text), tok.Encode(c.Text), c.IDs)
				eqIDs(t, "EncodeWith AllSpecial", tok.EncodeWith(c.Text, EncodeOptions{AllSpecial: true}), c.IDs)
			})
		}
	}
	for _, dir := range []string{
		testdata.Path(t, "vocab", "bert-base-uncased"),
		filepath.Join(testdata.Fixture(t, "blip-caption"), "model"),
		filepath.Join(testdata.Fixture(t, "blip-vqa"), "model"),
	} {
		tok := mustLoad(t, LoadWordPiece, dir)
		for i, c := range cases.Bert {
			t.Run(fmt.Sprintf("bert/%s/%d", filepath.Base(filepath.Dir(dir)), i), func(t *testing.T) {
				// transformers recognises special tokens written in the text.
				all := EncodeOptions{AllSpecial: true}
				eqIDs(t, fmt.Sprintf("EncodeWith(%q, AllSpecial)", c.Text), tok.EncodeWith(c.Text, all), c.IDs)
				got := tok.Tokenize(c.Text, all)
				if !slices.Equal(got, c.Tokens) {
					t.Errorf("Tokenize(%q):\n got %q\nwant %q", c.Text, got, c.Tokens)
				}
			})
		}
	}
}

// TestParity_whisper checks the tokenizer cases and the prompt of
// fixtures/whisper with every way of loading Whisper's vocabulary.
func TestParity_whisper(t *testing.T) {
	var cases struct {
		Prompt    []int `json:"prompt"`
		Tokenizer []struct {
			Text    string `json:"text"`
			IDs     []int  `json:"ids"`
			Decoded string `json:"decoded"`
		} `json:"tokenizer"`
		DetectedLanguageID int `json:"detected_language_id"`
	}
	dir := testdata.Cases(t, "whisper", &cases)
	if len(cases.Tokenizer) == 0 {
		t.Fatal("no tokenizer cases")
	}
	for name, tok := range whisperTokenizers(t, filepath.Join(dir, "model")) {
		t.Run(name, func(t *testing.T) {
			if tok.VocabSize() != 51865 {
				t.Errorf("VocabSize = %d, want 51865", tok.VocabSize())
			}
			for i, c := range cases.Tokenizer {
				eqIDs(t, fmt.Sprintf("case %d: Encode(%q)", i, c.Text), tok.Encode(c.Text), c.IDs)
				eqText(t, fmt.Sprintf("case %d: Decode", i), tok.Decode(c.IDs, false), c.Decoded)
				eqText(t, fmt.Sprintf("case %d: Decode skip", i), tok.Decode(c.IDs, true), c.Decoded)
			}
			if len(cases.Prompt) > 0 {
				lang, _ := tok.LanguageOf(cases.Prompt[1])
				task := TaskTranscribe
				if cases.Prompt[2] == tok.Translate() {
					task = TaskTranslate
				}
				seq, err := tok.SOTSequence(lang, task, !slices.Contains(cases.Prompt, tok.NoTimestamps()))
				if err != nil {
					t.Fatal(err)
				}
				eqIDs(t, "SOTSequence", seq, cases.Prompt)
			}
			if cases.DetectedLanguageID != 0 {
				if _, ok := tok.LanguageOf(cases.DetectedLanguageID); !ok {
					t.Errorf("detected_language_id %d is not a language token", cases.DetectedLanguageID)
				}
			}
		})
	}
}

// whisperTokenizers loads Whisper from the fixture model, ../shared/vocab's
// Hub layout and its multilingual.tiktoken.
func whisperTokenizers(t *testing.T, modelDir string) map[string]*Whisper {
	t.Helper()
	out := map[string]*Whisper{}
	vocabDir := testdata.Path(t, "vocab", "whisper")
	for name, load := range map[string]func() (*Whisper, error){
		"model": func() (*Whisper, error) { return LoadWhisper(modelDir) },
		"vocab": func() (*Whisper, error) { return LoadWhisper(vocabDir) },
		"tiktoken": func() (*Whisper, error) {
			return LoadWhisperTiktoken(filepath.Join(vocabDir, "multilingual.tiktoken"), 99)
		},
		"fromdir": func() (*Whisper, error) { return loadKind[*Whisper](LoadFromDir, modelDir) },
	} {
		w, err := load()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[name] = w
	}
	return out
}

// TestParity_whisperOpenAI decodes every segment of every run of
// fixtures/whisper-openai as OpenAI's transcribe does (text tokens, no
// clean-up) and the runs' full texts.
func TestParity_whisperOpenAI(t *testing.T) {
	var cases struct {
		DetectFirst [][]any `json:"detect_language_first_window"`
		Runs        map[string]struct {
			Language string `json:"language"`
			Text     string `json:"text"`
			Segments []struct {
				Tokens []int  `json:"tokens"`
				Text   string `json:"text"`
			} `json:"segments"`
		} `json:"runs"`
	}
	dir := testdata.Cases(t, "whisper-openai", &cases)
	if len(cases.Runs) == 0 {
		t.Fatal("no runs")
	}
	tok := mustLoad(t, LoadWhisper, filepath.Join(dir, "model"))
	for _, pair := range cases.DetectFirst {
		if code, ok := pair[0].(string); !ok {
			t.Errorf("detect_language_first_window entry %v", pair)
		} else if _, err := tok.LanguageToken(code); err != nil {
			t.Error(err)
		}
	}
	for name, run := range cases.Runs {
		t.Run(name, func(t *testing.T) {
			if _, err := tok.LanguageToken(run.Language); err != nil {
				t.Errorf("language %q: %v", run.Language, err)
			}
			var all []int
			for i, s := range run.Segments {
				var text []int
				for _, id := range s.Tokens {
					if id < tok.EOT() {
						text = append(text, id)
					}
				}
				eqText(t, fmt.Sprintf("segment %d", i), tok.Decode(text, false), s.Text)
				eqText(t, fmt.Sprintf("segment %d (all tokens, skip)", i), tok.Decode(s.Tokens, true), s.Text)
				all = append(all, s.Tokens...)
			}
			eqText(t, "run text", tok.Decode(all, false), run.Text)
			// The stream decoder emits the same text piece by piece.
			eqText(t, "streamed run text", streamDecode(tok.NewStreamDecoder(false), all), run.Text)
		})
	}
}

// TestParity_vitgpt2 checks GPT-2's ids and the decoded captions.
func TestParity_vitgpt2(t *testing.T) {
	var cases struct {
		Captions []struct {
			IDs  []int  `json:"ids"`
			Text string `json:"text"`
		} `json:"captions"`
		Tokenizer []struct {
			Text string `json:"text"`
			IDs  []int  `json:"ids"`
		} `json:"tokenizer"`
	}
	dir := testdata.Cases(t, "vit-gpt2", &cases)
	if len(cases.Tokenizer) == 0 {
		t.Fatal("no tokenizer cases")
	}
	for _, d := range []string{filepath.Join(dir, "model"), testdata.Path(t, "vocab", "gpt2")} {
		tok := mustLoad(t, LoadFromDir, d)
		if _, ok := tok.(*BPE); !ok {
			t.Fatalf("LoadFromDir(%s) gave %T", d, tok)
		}
		for i, c := range cases.Tokenizer {
			eqIDs(t, fmt.Sprintf("%s case %d: Encode(%q)", d, i, c.Text), tok.Encode(c.Text), c.IDs)
			eqText(t, fmt.Sprintf("%s case %d: round trip", d, i), tok.Decode(c.IDs, false), c.Text)
		}
		for i, c := range cases.Captions {
			eqText(t, fmt.Sprintf("%s caption %d", d, i), tok.Decode(c.IDs, true), c.Text)
		}
	}
}

// TestParity_blip checks BLIP's prompt and question ids and the decoded
// captions and answers.
func TestParity_blip(t *testing.T) {
	type gen struct {
		PromptIDs []int  `json:"prompt_ids"`
		IDs       []int  `json:"ids"`
		Text      string `json:"text"`
	}
	var caption struct {
		Prefix        string `json:"prefix"`
		Unconditional []gen  `json:"unconditional"`
		Conditional   []gen  `json:"conditional"`
		Beam          []gen  `json:"unconditional_beam3"`
	}
	dir := testdata.Cases(t, "blip-caption", &caption)
	wp := loadAs[*WordPiece](t, LoadFromDir, filepath.Join(dir, "model"))
	if id, ok := wp.ID("[DEC]"); !ok || id != 30522 || !wp.IsSpecial(id) {
		t.Errorf("[DEC] = %d, %v", id, ok)
	}
	n := 0
	for _, list := range [][]gen{caption.Unconditional, caption.Conditional, caption.Beam} {
		for i, g := range list {
			n++
			eqText(t, fmt.Sprintf("caption %d", i), wp.Decode(g.IDs, true), g.Text)
			if g.PromptIDs != nil {
				eqIDs(t, fmt.Sprintf("prompt %q", caption.Prefix), wp.Encode(caption.Prefix), g.PromptIDs)
			}
		}
	}
	if n == 0 {
		t.Fatal("no captions")
	}
	var vqa struct {
		QA []struct {
			Question    string `json:"question"`
			QuestionIDs []int  `json:"question_ids"`
			IDs         []int  `json:"ids"`
			Answer      string `json:"answer"`
		} `json:"qa"`
	}
	dir = testdata.Cases(t, "blip-vqa", &vqa)
	if len(vqa.QA) == 0 {
		t.Fatal("no qa cases")
	}
	wp = mustLoad(t, LoadWordPiece, filepath.Join(dir, "model"))
	for i, q := range vqa.QA {
		eqIDs(t, fmt.Sprintf("question %d %q", i, q.Question), wp.Encode(q.Question), q.QuestionIDs)
		eqText(t, fmt.Sprintf("answer %d", i), wp.Decode(q.IDs, true), q.Answer)
	}
}

// TestParity_clip checks CLIP's ids, decoded texts and the padded batch and
// attention mask the model was fed.
func TestParity_clip(t *testing.T) {
	var cases struct {
		Texts    []string `json:"texts"`
		InputIDs [][]int  `json:"input_ids"`
		Decoded  []string `json:"decoded"`
	}
	dir := testdata.Cases(t, "clip", &cases)
	if len(cases.Texts) == 0 || len(cases.Texts) != len(cases.InputIDs) {
		t.Fatalf("%d texts, %d input_ids", len(cases.Texts), len(cases.InputIDs))
	}
	tok := loadAs[*CLIP](t, LoadFromDir, filepath.Join(dir, "model"))
	for i, text := range cases.Texts {
		// The processor truncates to the model's context.
		eqIDs(t, fmt.Sprintf("EncodeWith(%q, MaxLen)", text), tok.EncodeWith(text, EncodeOptions{MaxLen: tok.MaxLen()}), cases.InputIDs[i])
		if i < len(cases.Decoded) {
			eqText(t, fmt.Sprintf("Decode %d", i), tok.Decode(cases.InputIDs[i], true), cases.Decoded[i])
		}
	}
	exp := filepath.Join(dir, "expected.safetensors")
	if !expected.Has(t, exp, "input_ids") {
		testdata.Missing(t, "expected.safetensors has no input_ids")
	}
	want, shape := expected.Int64s(t, exp, "input_ids")
	wantMask, _ := expected.Int64s(t, exp, "attention_mask")
	ids, mask := tok.EncodeBatch(cases.Texts, shape[1])
	if len(ids) != shape[0] {
		t.Fatalf("batch of %d, want %d", len(ids), shape[0])
	}
	for i := range ids {
		for j := range ids[i] {
			k := i*shape[1] + j
			if int64(ids[i][j]) != want[k] || (wantMask != nil && int64(mask[i][j]) != wantMask[k]) {
				t.Fatalf("row %d col %d: id %d mask %d, want %d %d", i, j, ids[i][j], mask[i][j], want[k], wantMask[k])
			}
		}
	}
	// maxLen 0 means the model's 77.
	ids0, _ := tok.EncodeBatch(cases.Texts, 0)
	if len(ids0[0]) != tok.MaxLen() {
		t.Errorf("EncodeBatch(texts, 0) rows of %d, want %d", len(ids0[0]), tok.MaxLen())
	}
}
