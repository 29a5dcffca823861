package whisper

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/goformer/goformer/audio"
	"github.com/goformer/goformer/internal/expected"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
)

// selfKVModes are the 16-bit self-attention cache modes (nn.WithSelfKVType,
// with the cross-attention keys and values in the same type) and their
// accuracy bounds: teacher-forced logits max|Δ|/max|x| against float32,
// the measured cost (tensor/PERFORMANCE.md) with a margin. Rounding the
// self-attention cache costs more than rounding the cross-attention keys
// and values alone (TestWithKVType's bounds), and far less than a wrong
// cache (errors of the order of the logits).
var selfKVModes = []struct {
	typ tensor.WeightType
	tol float64
}{{tensor.WeightF16, 4e-4}, {tensor.WeightBF16, 3e-3}}

// TestWithSelfKVType_whisper runs the whisper fixture (HF layout, F16
// checkpoint) with 16-bit self-attention caches: the cache is kept
// 16-bit, teacher-forced logits stay within the bound against float32,
// and greedy and 3-beam generation give the ids of the cross-only 16-bit
// path (WithKVType alone) and of the fixture.
func TestWithSelfKVType_whisper(t *testing.T) {
	var cases whisperCases
	dir, get := openFixture(t, "whisper", &cases)
	ctx := context.Background()
	mel := get("input_features").Index(0)
	type result struct {
		logits        *tensor.Tensor
		greedy, beam3 []int
	}
	run := func(opts ...Option) result {
		m := testdata.LoadModel(t, dir, Load, opts...)
		enc, err := m.Encode(ctx, mel)
		if err != nil {
			t.Fatal(err)
		}
		var r result
		r.logits = forcedLogits(t, ctx, m, enc, cases.TeacherForcedIDs, nil)
		// The cache the decoder kept has the self-attention type asked for.
		if want := m.decBlocks[0].SelfAttn.KVType; want != tensor.WeightF32 {
			dec, err := m.NewDecoder(enc)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := dec.Forward(ctx, [][]int{cases.Prompt}, nil); err != nil {
				t.Fatal(err)
			}
			if _, _, err := dec.states[0].Self.Append(tensor.New(1, 1, m.Config.DModel), tensor.New(1, 1, m.Config.DModel)); err == nil {
				t.Errorf("%v: the self-attention cache takes float32 views: not kept 16-bit", want)
			}
			dec.Release()
		}
		if r.greedy, err = m.Generate(ctx, mel, GenerateOptions{Prompt: cases.Prompt, MaxNewTokens: len(cases.Greedy) - len(cases.Prompt)}); err != nil {
			t.Fatal(err)
		}
		if r.beam3, err = m.Generate(ctx, mel, GenerateOptions{Prompt: cases.Prompt, MaxNewTokens: len(cases.Beam3) - len(cases.Prompt), NumBeams: 3}); err != nil {
			t.Fatal(err)
		}
		return r
	}
	f32 := run()
	for _, c := range selfKVModes {
		cross := run(WithKVType(c.typ))
		both := run(WithKVType(c.typ), nn.WithSelfKVType(c.typ))
		dc := testdata.RelDiff(t, "logits", cross.logits, f32.logits)
		d := testdata.RelDiff(t, "logits", both.logits, f32.logits)
		t.Logf("%v: teacher-forced logits max|Δ|/max|x| against float32: %.3g with self-attention caches and cross-attention keys/values %v, %.3g with the cross-attention ones alone", c.typ, d, c.typ, dc)
		if d > c.tol || d == 0 {
			t.Errorf("%v: relative logits error %.3g, want in (0, %g]", c.typ, d, c.tol)
		}
		for _, ids := range []struct {
			name             string
			got, cross, want []int
		}{{"greedy", both.greedy, cross.greedy, cases.Greedy}, {"beam3", both.beam3, cross.beam3, cases.Beam3}} {
			if !slices.Equal(ids.got, ids.cross) || !slices.Equal(ids.got, ids.want) {
				t.Errorf("%v %s ids\n got %v\ncross-only 16-bit %v\n fixture %v", c.typ, ids.name, ids.got, ids.cross, ids.want)
			}
		}
	}
}

// TestWithSelfKVType_whisper_openai runs the whisper-openai fixture (OpenAI
// layout, F32) with 16-bit self-attention caches: teacher-forced logits on
// jfk.flac within the bound against float32, and the long-form
// transcription with word timestamps and 3-beam search giving the tokens
// of the cross-only 16-bit path.
func TestWithSelfKVType_whisper_openai(t *testing.T) {
	dir := testdata.Fixture(t, "whisper-openai")
	if _, err := Load(filepath.Join(dir, "model"), nn.WithSelfKVType(tensor.WeightQ8)); !errors.Is(err, nn.ErrConfig) {
		t.Fatal("Q8 self-attention caches: no error")
	}
	pcm, err := audio.Load16kFile(testdata.Path(t, "media", "audio", "jfk.flac"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	run := func(opts ...Option) (*tensor.Tensor, [][]int) {
		m := testdata.LoadModel(t, dir, Load, opts...)
		_, logits := teacherForcedJFK(t, m, pcm)
		var toks [][]int
		for _, o := range []Options{
			{Language: "en", Temperatures: []float64{0}, WordTimestamps: true, MaxTokens: 24},
			{Language: "en", Temperatures: []float64{0}, BeamSize: 3, MaxTokens: 24},
		} {
			res, err := m.Transcribe(ctx, pcm, o)
			if err != nil {
				t.Fatal(err)
			}
			var ids []int
			for _, s := range res.Segments {
				ids = append(ids, s.Tokens...)
			}
			toks = append(toks, ids)
		}
		return logits, toks
	}
	want, _ := run()
	for _, c := range selfKVModes {
		_, cross := run(WithKVType(c.typ))
		got, toks := run(WithKVType(c.typ), nn.WithSelfKVType(c.typ))
		d := testdata.RelDiff(t, "logits", got, want)
		t.Logf("%v: teacher-forced logits max|Δ|/max|x| against float32 %.3g", c.typ, d)
		if d > c.tol || d == 0 {
			t.Errorf("%v: relative logits error %.3g, want in (0, %g]", c.typ, d, c.tol)
		}
		for i, name := range []string{"greedy with word timestamps", "3-beam"} {
			if !slices.Equal(toks[i], cross[i]) {
				t.Errorf("%v %s tokens\n got %v\nwant %v (cross-only 16-bit)", c.typ, name, toks[i], cross[i])
			}
		}
	}
}

// TestDevice_selfKV runs the whisper-openai fixture with 16-bit
// self-attention caches and cross-attention keys/values on the checking
// device: the long-form transcription with word timestamps, and 3-beam
// search, identical to the host's.
func TestDevice_selfKV(t *testing.T) {
	dir := filepath.Join(testdata.Fixture(t, "whisper-openai"), "model")
	pcm, err := audio.Load16kFile(testdata.Path(t, "media", "audio", "jfk.flac"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	opts := []Option{WithKVType(tensor.WeightF16), nn.WithSelfKVType(tensor.WeightF16)}
	h, err := Load(dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	d, err := Load(dir, append(opts, WithDevice(tensor.NewCheckingDevice()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, o := range []Options{
		{Language: "en", Temperatures: []float64{0}, MaxTokens: 48, WordTimestamps: true},
		{Language: "en", Temperatures: []float64{0}, MaxTokens: 24, BeamSize: 3},
	} {
		name := fmt.Sprintf("beam %d, word timestamps %v", o.BeamSize, o.WordTimestamps)
		resH, resD, _ := expected.OnBoth(t, d.Device(), name, h, d, func(m *Model) (*Result, error) { return m.Transcribe(ctx, pcm, o) })
		sameValue(t, name, resH, resD)
	}
}
