package whisper

import (
	"context"
	"fmt"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/goformer/goformer/audio"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/tensor"
)

type openaiCases struct {
	Audio                     string               `json:"audio"`
	CommonOptions             map[string]any       `json:"common_options"`
	Runs                      map[string]openaiRun `json:"runs"`
	DetectLanguageFirstWindow [][2]any             `json:"detect_language_first_window"`
}

// openaiRun is one transcribe() call of the whisper-openai fixture: its
// keyword arguments beyond the common ones, and what it returned.
type openaiRun struct {
	Options  map[string]any `json:"options"`
	Language string         `json:"language"`
	Text     string         `json:"text"`
	Segments []Segment      `json:"segments"`
}

// eachRun runs f in a subtest for each run of cases, in the order of their
// names, with the run's transcribe() keyword arguments (the common ones,
// overridden by the run's own) mapped onto Options.
func eachRun(t *testing.T, cases openaiCases, f func(t *testing.T, name string, run openaiRun, opt Options)) {
	t.Helper()
	for _, name := range slices.Sorted(maps.Keys(cases.Runs)) {
		run := cases.Runs[name]
		t.Run(name, func(t *testing.T) {
			kw := map[string]any{}
			for k, v := range cases.CommonOptions {
				kw[k] = v
			}
			for k, v := range run.Options {
				kw[k] = v
			}
			opt, err := optionsFromOpenAI(kw)
			if err != nil {
				t.Fatal(err)
			}
			f(t, name, run, opt)
		})
	}
}

// optionsFromOpenAI maps transcribe() keyword arguments onto Options.
func optionsFromOpenAI(kw map[string]any) (Options, error) {
	var o Options
	num := func(v any) (float64, bool) { f, ok := v.(float64); return f, ok }
	for k, v := range kw {
		switch k {
		case "language":
			if v != nil && v != "None" {
				o.Language = v.(string)
			}
		case "task":
			o.Task = v.(string)
		case "temperature":
			switch x := v.(type) {
			case float64:
				o.Temperatures = []float64{x}
			case []any:
				for _, e := range x {
					f, _ := num(e)
					o.Temperatures = append(o.Temperatures, f)
				}
			}
		case "compression_ratio_threshold":
			o.CompressionRatioThreshold = nanIfNil(v)
		case "logprob_threshold":
			o.LogprobThreshold = nanIfNil(v)
		case "no_speech_threshold":
			o.NoSpeechThreshold = nanIfNil(v)
		case "condition_on_previous_text":
			o.NoConditionOnPreviousText = !v.(bool)
		case "suppress_tokens":
			var ids []int
			if s, ok := v.(string); ok {
				if s == "" {
					o.NoSuppressTokens = true
					continue
				}
				for _, f := range splitComma(s) {
					var id int
					if _, err := fmt.Sscan(f, &id); err != nil {
						return o, fmt.Errorf("suppress_tokens %q: %w", s, err)
					}
					ids = append(ids, id)
				}
			}
			o.SuppressTokens = ids
		case "suppress_blank":
			o.NoSuppressBlank = !v.(bool)
		case "fp16":
		case "max_initial_timestamp":
			o.MaxInitialTimestamp = nanIfNil(v)
			if v == nil {
				o.MaxInitialTimestamp = Float(0)
			}
		case "prepend_punctuations":
			o.PrependPunctuations = String(v.(string))
		case "append_punctuations":
			o.AppendPunctuations = String(v.(string))
		case "beam_size":
			f, _ := num(v)
			o.BeamSize = int(f)
		case "best_of":
			f, _ := num(v)
			o.BestOf = int(f)
		case "patience":
			o.Patience, _ = num(v)
		case "length_penalty":
			o.LengthPenalty = nanIfNil(v)
		case "initial_prompt":
			if v != nil {
				o.InitialPrompt = v.(string)
			}
		case "word_timestamps":
			o.WordTimestamps = v.(bool)
		case "without_timestamps":
			o.WithoutTimestamps = v.(bool)
		default:
			return o, fmt.Errorf("unknown transcribe option %q", k)
		}
	}
	return o, nil
}

func nanIfNil(v any) *float64 {
	if f, ok := v.(float64); ok {
		return Float(f)
	}
	return Float(math.NaN())
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}

func TestParity_whisper_openai(t *testing.T) {
	var cases openaiCases
	dir, get := openFixture(t, "whisper-openai", &cases)
	hub := testdata.LoadModel(t, dir, Load)
	oai := loadOnHost(t, filepath.Join(dir, "model", "openai.pt"))
	melPadded, pcmT := get("mel_padded"), get("audio")
	ctx := context.Background()

	t.Run("mel_padded", func(t *testing.T) {
		mel, err := audio.LogMelPadded(pcmT.Contiguous().Data(), hub.Config.NumMelBins)
		if err != nil {
			t.Fatal(err)
		}
		d := testdata.TensorDiff(t, "mel_padded", mel, melPadded)
		t.Logf("mel_padded max|Δ| = %.3g", d)
		if d > 1e-4 {
			t.Errorf("mel_padded max|Δ| = %g > 1e-4", d)
		}
	})

	t.Run("openai_pt_equals_safetensors", func(t *testing.T) {
		w, err := audio.MelWindow(melPadded, 0, hub.Config.NumFrames())
		if err != nil {
			t.Fatal(err)
		}
		e1, err := hub.Encode(ctx, w)
		if err != nil {
			t.Fatal(err)
		}
		e2, err := oai.Encode(ctx, w)
		if err != nil {
			t.Fatal(err)
		}
		if d := testdata.TensorDiff(t, "encoder", e1, e2); d != 0 {
			t.Errorf("encoder outputs differ between openai.pt and model.safetensors: %g", d)
		}
		ids := []int{hub.specials().SOT, hub.specials().LanguageBase, hub.specials().Transcribe, hub.specials().TimestampBegin}
		var logits [2]*tensor.Tensor
		for i, m := range []*Model{hub, oai} {
			dec, _ := m.NewDecoder(e1)
			h, err := dec.Forward(ctx, [][]int{ids}, nil)
			if err != nil {
				t.Fatal(err)
			}
			logits[i], _ = dec.Logits(h)
		}
		if d := testdata.TensorDiff(t, "logits", logits[0], logits[1]); d != 0 {
			t.Errorf("logits differ between openai.pt and model.safetensors: %g", d)
		}
	})

	t.Run("detect_language_first_window", func(t *testing.T) {
		probs, err := hub.DetectLanguage(ctx, melPadded)
		if err != nil {
			t.Fatal(err)
		}
		for i, want := range cases.DetectLanguageFirstWindow {
			code, p := want[0].(string), want[1].(float64)
			if probs[i].Language != code || math.Abs(probs[i].Probability-p) > 1e-4 {
				t.Errorf("top-%d language %s %.6f, want %s %.6f", i+1, probs[i].Language, probs[i].Probability, code, p)
			}
		}
	})

	eachRun(t, cases, func(t *testing.T, _ string, run openaiRun, opt Options) {
		res, err := oai.TranscribeMel(ctx, melPadded, opt)
		if err != nil {
			t.Fatal(err)
		}
		if res.Language != run.Language {
			t.Errorf("language %q, want %q", res.Language, run.Language)
		}
		if len(res.Segments) != len(run.Segments) {
			t.Errorf("%d segments, want %d", len(res.Segments), len(run.Segments))
		}
		bad := 0
		var dLP, dCR, dNS, dWT, dWP float64
		defer func() {
			t.Logf("%d segments; max|Δ| avg_logprob %.2g, compression_ratio %.2g, no_speech_prob %.2g, word time %.2g, word probability %.2g",
				len(res.Segments), dLP, dCR, dNS, dWT, dWP)
		}()
		for i := 0; i < min(len(res.Segments), len(run.Segments)); i++ {
			g, w := res.Segments[i], run.Segments[i]
			dLP = max(dLP, math.Abs(g.AvgLogprob-w.AvgLogprob))
			dCR = max(dCR, math.Abs(g.CompressionRatio-w.CompressionRatio))
			dNS = max(dNS, math.Abs(g.NoSpeechProb-w.NoSpeechProb))
			if len(g.Words) == len(w.Words) {
				for j := range g.Words {
					dWT = max(dWT, math.Abs(g.Words[j].Start-w.Words[j].Start), math.Abs(g.Words[j].End-w.Words[j].End))
					dWP = max(dWP, math.Abs(g.Words[j].Probability-w.Words[j].Probability))
				}
			}
			var errs []string
			if !slices.Equal(g.Tokens, w.Tokens) {
				errs = append(errs, fmt.Sprintf("tokens %v, want %v", g.Tokens, w.Tokens))
			}
			if g.Text != w.Text {
				errs = append(errs, fmt.Sprintf("text %q, want %q", g.Text, w.Text))
			}
			if g.Seek != w.Seek || g.Start != w.Start || g.End != w.End {
				errs = append(errs, fmt.Sprintf("seek/start/end %d %v %v, want %d %v %v", g.Seek, g.Start, g.End, w.Seek, w.Start, w.End))
			}
			if math.Abs(g.AvgLogprob-w.AvgLogprob) > 1e-3 || math.Abs(g.CompressionRatio-w.CompressionRatio) > 1e-3 || math.Abs(g.NoSpeechProb-w.NoSpeechProb) > 1e-3 {
				errs = append(errs, fmt.Sprintf("avg_logprob %v compression %v no_speech %v, want %v %v %v", g.AvgLogprob, g.CompressionRatio, g.NoSpeechProb, w.AvgLogprob, w.CompressionRatio, w.NoSpeechProb))
			}
			if len(g.Words) != len(w.Words) {
				errs = append(errs, fmt.Sprintf("%d words, want %d", len(g.Words), len(w.Words)))
			} else {
				for j := range g.Words {
					gw, ww := g.Words[j], w.Words[j]
					if gw.Word != ww.Word || math.Abs(gw.Start-ww.Start) > 0.02+1e-9 || math.Abs(gw.End-ww.End) > 0.02+1e-9 || math.Abs(gw.Probability-ww.Probability) > 1e-3 {
						errs = append(errs, fmt.Sprintf("word %d %+v, want %+v", j, gw, ww))
					}
				}
			}
			if len(errs) > 0 {
				bad++
				if bad <= 3 {
					t.Errorf("segment %d: %v", i, errs)
				}
			}
		}
		if bad > 3 {
			t.Errorf("... %d segments differ in all", bad)
		}
		if res.Text != run.Text {
			t.Errorf("text differs:\n got %.200q\nwant %.200q", res.Text, run.Text)
		}
	})
}
