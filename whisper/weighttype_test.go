package whisper

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/goformer/goformer/audio"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
)

// TestWithWeightType loads the float32 whisper-openai fixture as it is and
// with its linear weights packed 16-bit (WithWeightType), runs the encoder
// and teacher-forced decoding on jfk.flac and reports what the rounding
// costs against the float32 results (which the parity tests tie to
// OpenAI's). The bounds are the opt-in's documented cost with a margin, far
// below what a wrongly packed weight gives (errors of the order of the
// values themselves).
func TestWithWeightType(t *testing.T) {
	dir := filepath.Join(testdata.Fixture(t, "whisper-openai"), "model")
	if _, err := Load(dir, WithWeightType(tensor.WeightType(7))); !errors.Is(err, nn.ErrConfig) {
		t.Fatalf("unknown weight type: err %v, want nn.ErrConfig", err)
	}
	run := func(opts ...Option) (*Model, *tensor.Tensor, *tensor.Tensor) {
		m, err := Load(dir, opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		pcm, err := audio.Load16kFile(testdata.Path(t, "media", "audio", "jfk.flac"))
		if err != nil {
			t.Fatal(err)
		}
		enc, logits := teacherForcedJFK(t, m, pcm)
		return m, enc, logits
	}
	_, enc32, logits32 := run()
	for _, c := range []struct {
		typ            tensor.WeightType
		encTol, logTol float64 // relative to max|value| of the float32 result
	}{
		{tensor.WeightF16, 2e-3, 2e-3},
		{tensor.WeightBF16, 2e-2, 2e-2},
	} {
		m, enc, logits := run(WithWeightType(c.typ))
		if m.proj.Type != c.typ || m.encBlocks[0].MLP.FC1.Type != c.typ {
			t.Fatalf("%v: projection packed as %v, fc1 as %v", c.typ, m.proj.Type, m.encBlocks[0].MLP.FC1.Type)
		}
		de := testdata.RelDiff(t, "encoder_out", enc, enc32)
		dl := testdata.RelDiff(t, "logits", logits, logits32)
		t.Logf("%v weights: encoder_out max|Δ|/max|x| = %.3g, teacher-forced logits max|Δ|/max|x| = %.3g (max|logit| %.3g)", c.typ, de, dl, testdata.MaxAbs(logits32.Contiguous().Data()))
		if de > c.encTol || dl > c.logTol {
			t.Errorf("%v weights: relative error encoder %.3g (bound %g), logits %.3g (bound %g)", c.typ, de, c.encTol, dl, c.logTol)
		}
	}
}

// teacherForcedJFK encodes the first window of pcm and returns the encoder
// output and the logits of a fixed token sequence after the English
// transcription prompt.
func teacherForcedJFK(t *testing.T, m *Model, pcm []float32) (enc, logits *tensor.Tensor) {
	t.Helper()
	ctx := context.Background()
	mel, err := audio.LogMel(pcm, m.Config.NumMelBins)
	if err != nil {
		t.Fatal(err)
	}
	if enc, err = m.Encode(ctx, mel); err != nil {
		t.Fatal(err)
	}
	dec, err := m.NewDecoder(enc)
	if err != nil {
		t.Fatal(err)
	}
	sot, err := m.tok.SOTSequence("en", "transcribe")
	if err != nil {
		t.Fatal(err)
	}
	h, err := dec.Forward(ctx, [][]int{append(sot, 400, 1000, 2000, 50, 7, 300)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if logits, err = dec.Logits(h); err != nil {
		t.Fatal(err)
	}
	return enc, logits
}

// TestWithKVType runs the whisper-openai fixture with its cross-attention
// keys and values packed 16-bit (WithKVType), alone and with 16-bit
// weights: teacher-forced logits against the float32 run, and a long-form
// transcription of jfk.flac with word timestamps (the path that reads the
// cross-attention probabilities) against the float32 one.
func TestWithKVType(t *testing.T) {
	dir := filepath.Join(testdata.Fixture(t, "whisper-openai"), "model")
	if _, err := Load(dir, WithKVType(tensor.WeightType(7))); !errors.Is(err, nn.ErrConfig) {
		t.Fatalf("unknown KV type: err %v, want nn.ErrConfig", err)
	}
	pcm, err := audio.Load16kFile(testdata.Path(t, "media", "audio", "jfk.flac"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	run := func(opts ...Option) (*tensor.Tensor, *Result) {
		m, err := Load(dir, opts...)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		_, logits := teacherForcedJFK(t, m, pcm)
		res, err := m.Transcribe(ctx, pcm, Options{Language: "en", Temperatures: []float64{0}, WordTimestamps: true, MaxTokens: 24})
		if err != nil {
			t.Fatal(err)
		}
		return logits, res
	}
	want, wantRes := run()
	for _, c := range []struct {
		name string
		opts []Option
		tol  float64
	}{
		{"F16 keys/values", []Option{WithKVType(tensor.WeightF16)}, 1e-4},
		{"BF16 keys/values", []Option{WithKVType(tensor.WeightBF16)}, 1e-3},
		{"F16 keys/values and weights", []Option{WithKVType(tensor.WeightF16), WithWeightType(tensor.WeightF16)}, 2e-3},
	} {
		got, res := run(c.opts...)
		d := testdata.RelDiff(t, "logits", got, want)
		t.Logf("%s: teacher-forced logits max|Δ|/max|x| = %.3g; transcript %q (float32: %q)", c.name, d, res.Text, wantRes.Text)
		if d > c.tol || d == 0 {
			t.Errorf("%s: relative logits error %.3g, want in (0, %g]", c.name, d, c.tol)
		}
		if len(res.Segments) == 0 || len(res.Segments[0].Words) == 0 {
			t.Errorf("%s: no segments or words", c.name)
		}
	}
}
