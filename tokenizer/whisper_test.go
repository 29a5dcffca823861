package tokenizer

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/goformer/goformer/internal/testdata"
)

var sharedWhisper testdata.Lazy[*Whisper]

// loadSharedWhisper loads ../shared/vocab/whisper once for the tests.
func loadSharedWhisper(t testing.TB) *Whisper {
	t.Helper()
	dir := testdata.Path(t, "vocab", "whisper")
	return sharedWhisper.Get(t, func() (*Whisper, error) { return LoadWhisper(dir) })
}

// OpenAI's non_speech_tokens for the multilingual and the GPT-2 (English-only)
// vocabularies, as published with whisper and its ports.
var (
	nonSpeechMultilingual = []int{1, 2, 7, 8, 9, 10, 14, 25, 26, 27, 28, 29, 31, 58, 59, 60, 61, 62, 63, 90, 91, 92, 93,
		359, 503, 522, 542, 873, 893, 902, 918, 922, 931, 1350, 1853, 1982, 2460, 2627, 3246, 3253, 3268, 3536, 3846,
		3961, 4183, 4667, 6585, 6647, 7273, 9061, 9383, 10428, 10929, 11938, 12033, 12331, 12562, 13793, 14157, 14635,
		15265, 15618, 16553, 16604, 18362, 18956, 20075, 21675, 22520, 26130, 26161, 26435, 28279, 29464, 31650, 32302,
		32470, 36865, 42863, 47425, 49870, 50254}
	nonSpeechEnglish = []int{1, 2, 7, 8, 9, 10, 14, 25, 26, 27, 28, 29, 31, 58, 59, 60, 61, 62, 63, 90, 91, 92, 93,
		357, 366, 438, 532, 685, 705, 796, 930, 1058, 1220, 1267, 1279, 1303, 1343, 1377, 1391, 1635, 1782, 1875, 2162,
		2361, 2488, 3467, 4008, 4211, 4600, 4808, 5299, 5855, 6329, 7203, 9609, 9959, 10563, 10786, 11420, 11709, 11907,
		13163, 13697, 13700, 14808, 15306, 16410, 16791, 17992, 19203, 19510, 20724, 22305, 22935, 27007, 30109, 30420,
		33409, 34949, 40283, 40493, 40549, 47282, 49146}
)

// TestWhisperSpecials checks every special-token accessor against the
// vocabulary's added_tokens.json.
func TestWhisperSpecials(t *testing.T) {
	w := loadSharedWhisper(t)
	added, err := readVocabJSON(testdata.Path(t, "vocab", "whisper", "added_tokens.json"))
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string]int{
		"<|startoftranscript|>": w.SOT(), "<|translate|>": w.Translate(), "<|transcribe|>": w.Transcribe(),
		"<|startoflm|>": w.StartOfLM(), "<|startofprev|>": w.StartOfPrev(), "<|nocaptions|>": w.NoSpeech(),
		"<|notimestamps|>": w.NoTimestamps(), "<|0.00|>": w.TimestampBegin(),
	} {
		if added[name] != got {
			t.Errorf("%s = %d, added_tokens.json says %d", name, got, added[name])
		}
	}
	if id, _ := w.ID("<|endoftext|>"); w.EOT() != id || w.EOT() != w.SOT()-1 {
		t.Errorf("EOT = %d", w.EOT())
	}
	if !w.IsMultilingual() {
		t.Error("not multilingual")
	}
	langs, codes := w.LanguageTokens(), w.LanguageCodes()
	if len(langs) != w.NumLanguages() || len(codes) != len(langs) || len(langs) == 0 {
		t.Fatalf("%d language tokens, %d codes", len(langs), len(codes))
	}
	for i, id := range langs {
		if id != w.SOT()+1+i {
			t.Errorf("language token %d = %d, want %d", i, id, w.SOT()+1+i)
		}
		if got, err := w.LanguageToken(codes[i]); err != nil || got != id {
			t.Errorf("LanguageToken(%q) = %d, %v", codes[i], got, err)
		}
		if got, err := w.LanguageToken(LanguageName(codes[i])); err != nil || got != id {
			t.Errorf("LanguageToken(%q) = %d, %v", LanguageName(codes[i]), got, err)
		}
		if c, ok := w.LanguageOf(id); !ok || c != codes[i] {
			t.Errorf("LanguageOf(%d) = %q", id, c)
		}
	}
	if w.Translate() != langs[len(langs)-1]+1 || w.Transcribe() != w.Translate()+1 {
		t.Error("task tokens do not follow the language tokens")
	}
	if w.VocabSize() != w.TimestampBegin()+1501 {
		t.Errorf("VocabSize %d, TimestampBegin %d", w.VocabSize(), w.TimestampBegin())
	}
	if sec, ok := w.TimestampSeconds(w.TimestampBegin() + 1500); !ok || sec != 30 {
		t.Errorf("last timestamp = %v", sec)
	}
	if w.Token(w.TimestampBegin()+1500) != "<|30.00|>" {
		t.Errorf("last timestamp token %q", w.Token(w.TimestampBegin()+1500))
	}
	for alias, code := range map[string]string{"mandarin": "zh", "Castilian": "es", "burmese": "my", "EN": "en"} {
		if got, ok := LanguageCode(alias); !ok || got != code {
			t.Errorf("LanguageCode(%q) = %q", alias, got)
		}
	}
	if _, err := w.LanguageToken("klingon"); !errors.Is(err, ErrUnknownLanguage) {
		t.Errorf("LanguageToken(klingon) error %v", err)
	}
	if w.NumLanguages() == 99 {
		if _, err := w.LanguageToken("yue"); !errors.Is(err, ErrUnknownLanguage) {
			t.Errorf("yue in a 99-language vocabulary: %v", err)
		}
	}
	if len(WhisperLanguages()) != 100 || WhisperLanguages()[99] != "yue" {
		t.Errorf("WhisperLanguages() = %d languages", len(WhisperLanguages()))
	}
	seq, err := w.SOTSequence("fr", TaskTranslate, true)
	if err != nil {
		t.Fatal(err)
	}
	fr, _ := w.LanguageToken("fr")
	eqIDs(t, "SOTSequence(fr, translate, timestamps)", seq, []int{w.SOT(), fr, w.Translate()})
	seq, _ = w.SOTSequence("", "", false)
	eqIDs(t, "SOTSequence('', '', false)", seq, []int{w.SOT(), w.NoTimestamps()})
	if _, err := w.SOTSequence("en", "summarize", false); err == nil {
		t.Error("unknown task accepted")
	}
	eqIDs(t, "NonSpeechTokens", w.NonSpeechTokens(), nonSpeechMultilingual)
}

// TestWhisperDecode covers timestamps, prompts and special tokens.
func TestWhisperDecode(t *testing.T) {
	w := loadSharedWhisper(t)
	text := w.Encode(" And so")
	ids := append([]int{w.SOT(), w.SOT() + 1, w.Transcribe(), w.TimestampBegin()}, text...)
	ids = append(ids, w.TimestampBegin()+54, w.EOT())
	eqText(t, "DecodeWithTimestamps", w.DecodeWithTimestamps(ids),
		"<|startoftranscript|><|en|><|transcribe|><|0.00|> And so<|1.08|><|endoftext|>")
	eqText(t, "Decode", w.Decode(ids, false), "<|startoftranscript|><|en|><|transcribe|> And so<|endoftext|>")
	eqText(t, "Decode skip", w.Decode(ids, true), " And so")
	prompt := append([]int{w.StartOfPrev()}, w.Encode(" Earlier text.")...)
	eqText(t, "Decode skip with prompt", w.Decode(append(prompt, ids...), true), " And so")
	eqText(t, "Decode keeps prompt", w.Decode(append(prompt, ids[:1]...), false), "<|startofprev|> Earlier text.<|startoftranscript|>")
	if _, err := w.DecodeStrict([]int{1, w.VocabSize() + 5}, false); !errors.Is(err, ErrInvalidID) {
		t.Errorf("DecodeStrict error %v", err)
	}
	if got := w.Decode([]int{-1, 1 << 40, w.VocabSize()}, false); got != "" {
		t.Errorf("invalid ids decoded to %q", got)
	}
	// Special tokens in text are text unless allowed.
	plain := w.Encode("<|endoftext|>")
	if slices.Contains(plain, w.EOT()) {
		t.Errorf("Encode matched <|endoftext|>: %v", plain)
	}
	eqIDs(t, "EncodeWith Special", w.EncodeWith("hi<|endoftext|>", EncodeOptions{Special: []string{"<|endoftext|>"}}),
		append(w.Encode("hi"), w.EOT()))
	eqIDs(t, "EncodeWith AllSpecial timestamp", w.EncodeWith("<|1.00|>", EncodeOptions{AllSpecial: true}),
		[]int{w.TimestampBegin() + 50})
}

// TestWhisperStream checks that streaming emits whole characters only and
// adds up to Decode.
func TestWhisperStream(t *testing.T) {
	w := loadSharedWhisper(t)
	for _, text := range []string{" 你好，世界！", " Hello 👋🏽 world", " ça va? Ελληνικά", "abc"} {
		ids := w.Encode(text)
		sd := w.NewStreamDecoder(true)
		var got strings.Builder
		for _, id := range append(ids, w.EOT(), w.TimestampBegin()) {
			part := sd.Push(id)
			if strings.ContainsRune(part, '\uFFFD') {
				t.Errorf("%q: partial character emitted: %q", text, part)
			}
			got.WriteString(part)
		}
		got.WriteString(sd.Flush())
		eqText(t, "stream", got.String(), text)
	}
	// A byte that can never be completed is replaced at once.
	sd := w.NewStreamDecoder(false)
	b, _ := w.ID(byteToString[0xE4])
	if out := sd.Push(b); out != "" {
		t.Errorf("lead byte emitted %q", out)
	}
	if out := sd.Push(b); out != "\uFFFD" {
		t.Errorf("second lead byte: %q", out)
	}
	if out := sd.Flush(); out != "\uFFFD" {
		t.Errorf("Flush = %q", out)
	}
}

// TestWhisperSplitToWordTokens checks OpenAI's word splitting on the fixture
// texts: words glue back to the text, special tokens stand alone, and each
// space-split word starts with a space or is punctuation.
func TestWhisperSplitToWordTokens(t *testing.T) {
	var cases struct {
		Tokenizer []struct {
			IDs     []int  `json:"ids"`
			Decoded string `json:"decoded"`
		} `json:"tokenizer"`
	}
	testdata.Cases(t, "whisper", &cases)
	w := loadSharedWhisper(t)
	for _, lang := range []string{"en", "zh"} {
		wl, err := w.WithLanguage(lang)
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range cases.Tokenizer {
			ids := append(append([]int(nil), c.IDs...), w.EOT())
			words, toks := wl.SplitToWordTokens(ids)
			if len(words) != len(toks) {
				t.Fatalf("%d words, %d token lists", len(words), len(toks))
			}
			if strings.Join(words, "") != c.Decoded+"<|endoftext|>" {
				t.Errorf("%s case %d: words %q", lang, i, words)
			}
			if slices.Concat(toks...) == nil || !slices.Equal(slices.Concat(toks...), ids) {
				t.Errorf("%s case %d: tokens do not add up", lang, i)
			}
			if words[len(words)-1] != "<|endoftext|>" {
				t.Errorf("%s case %d: last word %q", lang, i, words[len(words)-1])
			}
			for k, word := range words {
				if strings.ContainsRune(word, '\uFFFD') {
					t.Errorf("%s case %d: word %q splits a character", lang, i, word)
				}
				// A word starts at a space or at punctuation ("'appelle").
				if lang == "en" && k > 0 && k < len(words)-1 && !strings.HasPrefix(word, " ") &&
					!strings.ContainsAny(word[:1], pythonPunctuation) {
					t.Errorf("en case %d: word %q starts neither with a space nor with punctuation", i, word)
				}
			}
		}
	}
	words, _ := w.SplitToWordTokensLang(w.Encode(" 你好，世界！"), "zh")
	if strings.Join(words, "|") != " 你|好|，|世|界|！" && strings.Join(words, "") != " 你好，世界！" {
		t.Errorf("zh words %q", words)
	}
	words, _ = w.SplitToWordTokensLang(w.Encode(" Americans, ask not"), "english")
	if !slices.Equal(words, []string{" Americans", ",", " ask", " not"}) {
		t.Errorf("en words %q", words)
	}
}

// writeWhisperDir writes a Hub-style Whisper tokenizer directory whose
// added_tokens.json holds OpenAI's special tokens for numLanguages languages
// after eot, over the given vocab.json and merges.txt.
func writeWhisperDir(t *testing.T, vocabDir string, eot, numLanguages int) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"vocab.json", "merges.txt"} {
		b, err := os.ReadFile(filepath.Join(vocabDir, f))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, dir, f, string(b))
	}
	added := map[string]int{}
	for tok, id := range WhisperTiktokenSpecials(eot, numLanguages) {
		if tok == "<|endoftext|>" {
			continue
		}
		if tok == "<|nospeech|>" {
			tok = "<|nocaptions|>"
		}
		added[tok] = id
	}
	b, _ := json.Marshal(added)
	writeFile(t, dir, "added_tokens.json", string(b))
	return dir
}

// TestWhisperLargeV3 loads a 51866-token vocabulary with <|yue|>.
func TestWhisperLargeV3(t *testing.T) {
	base := testdata.Path(t, "vocab", "whisper")
	dir := writeWhisperDir(t, base, 50257, 100)
	w := loadAs[*Whisper](t, LoadFromDir, dir)
	specials := WhisperTiktokenSpecials(50257, 100)
	if w.VocabSize() != 51866 || w.NumLanguages() != 100 {
		t.Errorf("VocabSize %d, %d languages", w.VocabSize(), w.NumLanguages())
	}
	if id, err := w.LanguageToken("cantonese"); err != nil || id != specials["<|yue|>"] {
		t.Errorf("yue = %d, %v", id, err)
	}
	for got, name := range map[int]string{w.Translate(): "<|translate|>", w.Transcribe(): "<|transcribe|>",
		w.NoSpeech(): "<|nospeech|>", w.NoTimestamps(): "<|notimestamps|>", w.TimestampBegin(): "<|0.00|>"} {
		if got != specials[name] {
			t.Errorf("%s = %d, want %d", name, got, specials[name])
		}
	}
	eqIDs(t, "NonSpeechTokens", w.NonSpeechTokens(), nonSpeechMultilingual)
}

// TestWhisperEnglishOnly loads Whisper's English-only layout: GPT-2's
// vocabulary with the specials from 50257.
func TestWhisperEnglishOnly(t *testing.T) {
	dir := writeWhisperDir(t, testdata.Path(t, "vocab", "gpt2"), 50256, 99)
	w := mustLoad(t, LoadWhisper, dir)
	if w.IsMultilingual() || w.EOT() != 50256 || w.SOT() != 50257 || w.VocabSize() != 51864 {
		t.Errorf("multilingual %v, EOT %d, SOT %d, VocabSize %d", w.IsMultilingual(), w.EOT(), w.SOT(), w.VocabSize())
	}
	seq, err := w.SOTSequence("en", TaskTranscribe, false)
	if err != nil {
		t.Fatal(err)
	}
	eqIDs(t, "SOTSequence", seq, []int{w.SOT(), w.NoTimestamps()})
	eqIDs(t, "NonSpeechTokens", w.NonSpeechTokens(), nonSpeechEnglish)
	if got := w.Decode(w.Encode(" Hello, world!"), true); got != " Hello, world!" {
		t.Errorf("round trip %q", got)
	}
}
