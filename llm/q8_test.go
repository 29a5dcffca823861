package llm

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/tensor"
)

// q8FixtureModel is fixtureModel with the store's weights quantized to
// int8 (WeightType tensor.WeightQ8).
func q8FixtureModel(t *testing.T, dir string) *Model {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "model", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseConfig(raw)
	if err != nil {
		t.Fatal(err)
	}
	store, err := checkpoint.LoadDir(filepath.Join(dir, "model"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	store.WeightType = tensor.WeightQ8
	m, err := New(cfg, store.Root(), "language_model.")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// q8Check logs and checks the teacher-forced logits of a Q8 model against
// the float32 reference (the documented budget: testdata.Q8Rel,
// testdata.Q8Top1; tensor/PERFORMANCE.md).
func q8Check(t *testing.T, got, want *tensor.Tensor, same, cases int) {
	t.Helper()
	a := testdata.CompareLogits(got.Contiguous().Data(), want.Contiguous().Data(), want.Dim(-1))
	t.Logf("Q8 (%s kernels): teacher-forced logits %v; %d of %d greedy generations identical to the fixture's", tensor.Q8Kernel(), a, same, cases)
	if a.Rel > testdata.Q8Rel || a.Rel == 0 || a.Top1 < testdata.Q8Top1 {
		t.Errorf("Q8 logits: relative error %.4f (want in (0, %g]), top-1 agreement %.3f (want ≥ %g)", a.Rel, testdata.Q8Rel, a.Top1, testdata.Q8Top1)
	}
}

// TestQ8_blip2 runs the OPT language model of the blip2 fixture with int8
// weights on the fixture's query outputs: teacher-forced logits and
// unconditional greedy ids.
func TestQ8_blip2(t *testing.T) {
	dir := testdata.Fixture(t, "blip2")
	var cs blip2Cases
	readJSON(t, filepath.Join(dir, "cases.json"), &cs)
	m := q8FixtureModel(t, dir)
	exp := expected(t, dir, "language_model_inputs", "teacher_forced_logits")
	lmi, wantTF := exp[0], exp[1]
	nq := lmi.Dim(1)
	ctx := context.Background()
	inputs := func(img int, ids []int) *tensor.Tensor {
		emb, err := m.Embed(ids)
		if err != nil {
			t.Fatal(err)
		}
		return concatRows(t, lmi.Index(img), emb)
	}
	tf := cs.TeacherForced
	if len(tf.IDs) == 0 {
		testdata.Missing(t, "blip2 teacher_forced case")
	}
	st, err := m.NewState(1)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Release()
	lg, err := st.Logits(ctx, inputs(imageIndex(t, cs.Images, tf.Image), tf.IDs), nil)
	if err != nil {
		t.Fatal(err)
	}
	same := 0
	g := cs.Generate["unconditional"]
	bos := m.Config().BOSTokenID
	for i, c := range cs.Unconditional {
		opt := m.DefaultOptions()
		opt.MaxNewTokens, opt.MinNewTokens, opt.NumBeams = g.MaxNewTokens, g.MinNewTokens, g.NumBeams
		got, err := m.Generate(ctx, Prompt{IDs: []int{bos}, Embeds: inputs(i, []int{bos})}, opt)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Equal(got, c.IDs) {
			same++
		}
	}
	q8Check(t, lg.Slice(1, nq, lg.Dim(1)), wantTF, same, len(cs.Unconditional))
}

// TestQ8_llava runs the Llama language model of the llava fixture (an F16
// checkpoint, quantized too) with int8 weights on the fixture's image
// features: teacher-forced logits and greedy ids.
func TestQ8_llava(t *testing.T) {
	dir := testdata.Fixture(t, "llava")
	var cs llavaCases
	readJSON(t, filepath.Join(dir, "cases.json"), &cs)
	m := q8FixtureModel(t, dir)
	exp := expected(t, dir, "image_features", "teacher_forced_logits")
	feats, wantTF := exp[0], exp[1]
	np := feats.Dim(1)
	ctx := context.Background()
	merged := func(img int, ids []int) (*tensor.Tensor, int) {
		p := slices.Index(ids, cs.ImageTokenIndex)
		if p < 0 {
			t.Fatalf("no <image> (%d) in %v", cs.ImageTokenIndex, ids)
		}
		var before, after *tensor.Tensor
		var err error
		if p > 0 {
			if before, err = m.Embed(ids[:p]); err != nil {
				t.Fatal(err)
			}
		}
		if p+1 < len(ids) {
			if after, err = m.Embed(ids[p+1:]); err != nil {
				t.Fatal(err)
			}
		}
		return concatRows(t, before, feats.Index(img), after), p
	}
	tf := cs.TeacherForced
	if len(tf.IDs) == 0 {
		testdata.Missing(t, "llava teacher_forced case")
	}
	x, p := merged(imageIndex(t, cs.Images, tf.Image), tf.IDs)
	st, err := m.NewState(1)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Release()
	lg, err := st.Logits(ctx, x, nil)
	if err != nil {
		t.Fatal(err)
	}
	same := 0
	for _, c := range cs.Cases {
		x, _ := merged(imageIndex(t, cs.Images, c.Image), c.InputIDs)
		opt := m.DefaultOptions()
		opt.MaxNewTokens, opt.MinNewTokens, opt.NumBeams = cs.Generate.MaxNewTokens, cs.Generate.MinNewTokens, cs.Generate.NumBeams
		got, err := m.Generate(ctx, Prompt{IDs: c.InputIDs, Embeds: x}, opt)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Equal(got, c.IDs) {
			same++
		}
	}
	q8Check(t, lg.Slice(1, p+np, lg.Dim(1)), wantTF, same, len(cs.Cases))
}
