package integration

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"

	"github.com/goformer/goformer/task"
	"github.com/goformer/goformer/transcript"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/whisper"
)

// addWhisperResultSeeds adds transcription results as JSON seeds: the
// whisper package's writer fixtures and the results of the whisper-openai
// reference runs.
func addWhisperResultSeeds(f *testing.F, add func([]byte)) {
	for _, name := range []string{"result.json", "result_words.json"} {
		if b, err := os.ReadFile(filepath.Join("..", "..", "whisper", "testdata", name)); err == nil {
			add(b)
		}
	}
	root, ok := testdata.Root()
	if !ok {
		return
	}
	var cases struct {
		Runs map[string]json.RawMessage `json:"runs"`
	}
	raw, err := os.ReadFile(filepath.Join(root, "fixtures", "whisper-openai", "cases.json"))
	if err != nil || json.Unmarshal(raw, &cases) != nil {
		return
	}
	for _, name := range []string{"word_timestamps", "greedy_timestamps"} {
		if r, ok := cases.Runs[name]; ok {
			var res task.Transcript
			if json.Unmarshal(r, &res) == nil && len(res.Segments) > 0 {
				res.Segments = res.Segments[:min(len(res.Segments), 4)]
				if b, err := json.Marshal(&res); err == nil {
					add(b)
				}
			}
		}
	}
}

// FuzzWhisperWriters writes arbitrary transcription results (decoded from
// JSON, with non-finite or negative times injected) in every output format
// with arbitrary line options: no panics and no hangs; valid UTF-8 out
// for valid input; and, for finite values, WriteJSON's output is valid
// JSON that decodes back to the same result.
func FuzzWhisperWriters(f *testing.F) {
	addWhisperResultSeeds(f, func(b []byte) { f.Add(b, uint16(0), uint32(0)) })
	f.Add([]byte(`{"text":" a","segments":[{"id":0,"start":0,"end":1e9,"text":" a -->","words":[]}],"language":"en"}`), uint16(0x0102), uint32(0x01020301))
	f.Add([]byte(`{"segments":[{"start":-1,"end":-2,"text":"\u00e9\ud83d\ude00","words":[{"word":" \u00e9t\u00e9","start":3,"end":2,"probability":1}]}]}`), uint16(0xffff), uint32(0x10000f05))
	f.Fuzz(func(t *testing.T, js []byte, special uint16, opts uint32) {
		var r task.Transcript
		if json.Unmarshal(js, &r) != nil {
			return
		}
		finite := true
		if special != 0 && len(r.Segments) > 0 {
			// Inject a NaN, ±Inf or huge value into one time field.
			vals := []float64{math.NaN(), math.Inf(1), math.Inf(-1), -1e300, 1e300, -0.0005}
			v := vals[int(special>>8)%len(vals)]
			s := &r.Segments[int(special&0xff)%len(r.Segments)]
			switch (special >> 4) % 3 {
			case 0:
				s.Start = v
			case 1:
				s.End = v
			default:
				if len(s.Words) > 0 {
					s.Words[0].End = v
				} else {
					s.AvgLogprob = v
				}
			}
			finite = !math.IsNaN(v) && !math.IsInf(v, 0)
		}
		o := transcript.WriterOptions{
			MaxLineWidth:    int(opts & 0xff % 48),
			MaxLineCount:    int(opts >> 8 & 0xff % 4),
			MaxWordsPerLine: int(opts >> 16 & 0xff % 6),
			HighlightWords:  opts>>24&1 == 1,
		}
		writers := map[string]func(*bytes.Buffer) error{
			"srt":  func(b *bytes.Buffer) error { return transcript.WriteSRTWith(b, &r, o) },
			"vtt":  func(b *bytes.Buffer) error { return transcript.WriteVTTWith(b, &r, o) },
			"txt":  func(b *bytes.Buffer) error { return transcript.WriteText(b, &r) },
			"tsv":  func(b *bytes.Buffer) error { return transcript.WriteTSV(b, &r) },
			"json": func(b *bytes.Buffer) error { return transcript.WriteJSON(b, &r) },
		}
		for name, write := range writers {
			var b bytes.Buffer
			if err := write(&b); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if !utf8.Valid(b.Bytes()) {
				t.Fatalf("%s: invalid UTF-8 output %q", name, b.Bytes())
			}
			if name != "json" || !finite {
				continue
			}
			var back task.Transcript
			if err := json.Unmarshal(b.Bytes(), &back); err != nil {
				t.Fatalf("WriteJSON output does not decode: %v\n%s", err, b.Bytes())
			}
			want, _ := json.Marshal(normalized(r))
			got, _ := json.Marshal(normalized(back))
			if !bytes.Equal(want, got) {
				t.Fatalf("WriteJSON round trip differs:\n got %s\nwant %s", got, want)
			}
		}
	})
}

// normalized returns r with null token lists as empty ones (Python's
// segments always hold a list) and without the fields OpenAI's JSON does
// not have (task, duration), for comparing round trips.
func normalized(r task.Transcript) task.Transcript {
	r.Task, r.Duration = "", 0
	segs := make([]task.Segment, len(r.Segments))
	for i, s := range r.Segments {
		if s.Tokens == nil {
			s.Tokens = []int{}
		}
		segs[i] = s
	}
	r.Segments = segs
	return r
}

// emptySafetensors is a valid safetensors file holding no tensors.
func emptySafetensors() []byte { return testdata.Safetensors(`{"__metadata__":{"format":"pt"}}`, nil) }

// whisperParams estimates the number of floats a model of config c
// allocates, in float64 so that absurd dimensions cannot overflow.
func whisperParams(c whisper.Config) float64 {
	d := float64(c.DModel)
	enc := float64(c.EncoderLayers) * (4*d*d + 2*d*float64(c.EncoderFFN) + 10*d)
	dec := float64(c.DecoderLayers) * (8*d*d + 2*d*float64(c.DecoderFFN) + 14*d)
	emb := float64(c.VocabSize+c.MaxTargetPositions+c.MaxSourcePositions)*d + 3*d*(float64(c.NumMelBins)+d)
	return enc + dec + emb
}

// FuzzWhisperConfig loads arbitrary config.json and generation_config.json
// files: LoadConfig may fail with nn.ErrConfig, and Load of a directory
// holding them and an empty checkpoint fails with a sentinel error (for a
// small accepted config: checkpoint.ErrMissingWeights), never a panic.
func FuzzWhisperConfig(f *testing.F) {
	var gen []byte
	if root, ok := testdata.Root(); ok {
		gen, _ = os.ReadFile(filepath.Join(root, "fixtures", "whisper", "model", "generation_config.json"))
		for _, p := range [][]string{
			{"configs", "whisper-tiny", "config.json"},
			{"configs", "whisper-large-v3", "config.json"},
			{"fixtures", "whisper", "model", "config.json"},
			{"fixtures", "wav2vec2", "model", "config.json"},
		} {
			if b, err := os.ReadFile(filepath.Join(append([]string{root}, p...)...)); err == nil {
				f.Add(b, gen)
			}
		}
	}
	f.Add([]byte(`{"model_type":"whisper","d_model":8,"encoder_layers":1,"encoder_attention_heads":2,"encoder_ffn_dim":8,`+
		`"decoder_layers":1,"decoder_attention_heads":2,"decoder_ffn_dim":8,"num_mel_bins":4,"max_source_positions":6,`+
		`"max_target_positions":8,"vocab_size":60,"activation_function":"gelu"}`),
		[]byte(`{"alignment_heads":[[0,1],[5,9]],"lang_to_id":{"<|en|>":1},"suppress_tokens":[1,2,-1],"max_initial_timestamp_index":-3}`))
	dir := f.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "model.safetensors"), emptySafetensors(), 0o644); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, config, gen []byte) {
		if err := os.WriteFile(filepath.Join(dir, "config.json"), config, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "generation_config.json"), gen, 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := whisper.LoadConfig(filepath.Join(dir, "config.json"))
		if err != nil {
			if !errors.Is(err, nn.ErrConfig) {
				t.Fatalf("LoadConfig error does not wrap nn.ErrConfig: %v", err)
			}
			return
		}
		if whisperParams(cfg) > 1<<18 {
			return
		}
		m, err := whisper.Load(dir)
		if err == nil {
			m.Close()
			t.Fatal("loaded a model from an empty checkpoint")
		}
		if !errors.Is(err, checkpoint.ErrMissingWeights) && !errors.Is(err, nn.ErrConfig) && !errors.Is(err, nn.ErrUnsupportedArchitecture) {
			t.Fatalf("Load: want a sentinel error, got %v", err)
		}
	})
}
