package llm

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/internal/expected"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
)

// These tests run the language models of the BLIP-2 and LLaVA fixtures on
// the fixtures' projected image features (the vision parts are the
// families' business): teacher-forced logits and generated ids.

// fixtureModel builds the language model of a multimodal fixture from its
// config.json (text_config) and weights under "language_model.", with
// the store's weight type and device set by opts, and packs it (as Load
// does).
func fixtureModel(t *testing.T, dir string, opts ...nn.LoadOption) *Model {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "model", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseConfig(raw)
	if err != nil {
		t.Fatal(err)
	}
	o, err := nn.ApplyLoadOptions(opts)
	if err != nil {
		t.Fatal(err)
	}
	store, err := checkpoint.LoadDir(filepath.Join(dir, "model"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	o.Apply(store)
	m, err := New(cfg, store.Root(), "language_model.")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Pack(); err != nil {
		t.Fatal(err)
	}
	return m
}

// concatRows stacks 2-D tensors [Ti, E] into [ΣTi, E].
func concatRows(t *testing.T, parts ...*tensor.Tensor) *tensor.Tensor {
	t.Helper()
	var keep []*tensor.Tensor
	for _, p := range parts {
		if p != nil && p.Dim(0) > 0 {
			keep = append(keep, p.Contiguous())
		}
	}
	x, err := tensor.Concat(0, keep...)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// embed returns m's embeddings of ids (none for no ids).
func embed(t *testing.T, m *Model, ids []int) *tensor.Tensor {
	t.Helper()
	if len(ids) == 0 {
		return nil
	}
	x, err := m.Embed(ids)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// blip2Inputs builds transformers' inputs_embeds of BLIP-2: an image's
// query outputs q, then the prompt's token embeddings by m (on m's device
// when q is there).
func blip2Inputs(t *testing.T, m *Model, q *tensor.Tensor, ids []int) *tensor.Tensor {
	t.Helper()
	return concatRows(t, q, embed(t, m, ids))
}

// llavaMerged is transformers 4.40's _merge_input_ids_with_image_features
// for one image: the embeddings of ids by m with the one <image> token's
// (imageToken) replaced by the image's feature rows feats (on m's device
// when feats is there), and the token's position.
func llavaMerged(t *testing.T, m *Model, feats *tensor.Tensor, imageToken int, ids []int) (*tensor.Tensor, int) {
	t.Helper()
	p := slices.Index(ids, imageToken)
	if p < 0 || slices.Index(ids[p+1:], imageToken) >= 0 {
		t.Fatalf("want exactly one <image> (%d) in %v", imageToken, ids)
	}
	return concatRows(t, embed(t, m, ids[:p]), feats, embed(t, m, ids[p+1:])), p
}

// logitsOf returns m's logits at every position of one sequence of input
// embeddings x.
func logitsOf(t *testing.T, m *Model, x *tensor.Tensor) *tensor.Tensor {
	t.Helper()
	st, err := m.NewState(1)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Release()
	lg, err := st.Logits(context.Background(), x, nil)
	if err != nil {
		t.Fatal(err)
	}
	return lg
}

// generateSettings are a fixture's generate arguments.
type generateSettings struct {
	MaxNewTokens  int      `json:"max_new_tokens"`
	MinNewTokens  int      `json:"min_new_tokens"`
	NumBeams      int      `json:"num_beams"`
	LengthPenalty *float64 `json:"length_penalty"`
	EarlyStopping *bool    `json:"early_stopping"`
}

// options returns m's defaults with the settings applied.
func (g generateSettings) options(m *Model) GenerateOptions {
	opt := m.DefaultOptions()
	opt.MaxNewTokens, opt.MinNewTokens, opt.NumBeams = g.MaxNewTokens, g.MinNewTokens, g.NumBeams
	if g.LengthPenalty != nil {
		opt.LengthPenalty = *g.LengthPenalty
	}
	if g.EarlyStopping != nil && *g.EarlyStopping {
		opt.EarlyStopping = 1
	}
	return opt
}

type blip2Cases struct {
	Images         []string `json:"images"`
	NumQueryTokens int      `json:"num_query_tokens"`
	Unconditional  []struct {
		IDs       []int   `json:"ids"`
		MinMargin float64 `json:"min_margin"`
	} `json:"unconditional"`
	Prompted []struct {
		PromptIDs []int   `json:"prompt_ids"`
		IDs       []int   `json:"ids"`
		MinMargin float64 `json:"min_margin"`
	} `json:"prompted"`
	Beam3 []struct {
		IDs []int `json:"ids"`
	} `json:"unconditional_beam3"`
	Generate      map[string]generateSettings `json:"generate"`
	TeacherForced struct {
		Image string `json:"image"`
		IDs   []int  `json:"ids"`
	} `json:"teacher_forced"`
}

func TestLM_blip2_opt(t *testing.T) {
	var cs blip2Cases
	dir := testdata.Cases(t, "blip2", &cs)
	m := fixtureModel(t, dir)
	exp := expected.Tensors(t, "blip2", "language_model_inputs", "teacher_forced_logits")
	lmi, wantTF := exp[0], exp[1]
	if lmi.Dim(0) != len(cs.Images) || lmi.Dim(2) != m.EmbedDim() {
		t.Fatalf("language_model_inputs %v for %d images and embedding width %d", lmi.Shape(), len(cs.Images), m.EmbedDim())
	}
	nq := lmi.Dim(1)
	if cs.NumQueryTokens != 0 && cs.NumQueryTokens != nq {
		t.Fatalf("num_query_tokens %d, language_model_inputs has %d rows", cs.NumQueryTokens, nq)
	}
	ctx := context.Background()
	bos := m.Config().BOSTokenID
	inputs := func(t *testing.T, img int, ids []int) *tensor.Tensor {
		return blip2Inputs(t, m, lmi.Index(img), ids)
	}

	t.Run("teacher_forced", func(t *testing.T) {
		tf := cs.TeacherForced
		if len(tf.IDs) == 0 {
			testdata.Missing(t, "blip2 teacher_forced case")
		}
		lg := logitsOf(t, m, inputs(t, testdata.Index(t, cs.Images, tf.Image), tf.IDs))
		got := lg.Slice(1, nq, lg.Dim(1))
		d := testdata.TensorDiff(t, "teacher-forced logits", got, wantTF)
		t.Logf("teacher-forced logits %v: max|Δ| = %.3g", wantTF.Shape(), d)
		if d > 1e-4 {
			t.Errorf("teacher-forced logits max|Δ| = %g > 1e-4", d)
		}
	})

	run := func(t *testing.T, kind string, img int, promptIDs, want []int) {
		t.Helper()
		g, ok := cs.Generate[kind]
		if !ok {
			testdata.Missing(t, "generate settings for %s", kind)
		}
		opt := g.options(m)
		var streamed []int
		if g.NumBeams <= 1 {
			opt.OnToken = func(id int) { streamed = append(streamed, id) }
		}
		// transformers 4.30's BLIP-2 hands the language model inputs_embeds
		// only: generate's input_ids are a placeholder [bos].
		got, err := m.Generate(ctx, Prompt{IDs: []int{bos}, Embeds: inputs(t, img, promptIDs)}, opt)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s image %s: ids\n got %v\nwant %v", kind, cs.Images[img], got, want)
		}
		if opt.OnToken != nil && !slices.Equal(streamed, got[1:]) {
			t.Errorf("%s image %s: streamed %v, generated %v", kind, cs.Images[img], streamed, got[1:])
		}
	}
	t.Run("unconditional", func(t *testing.T) {
		if len(cs.Unconditional) != len(cs.Images) {
			t.Fatalf("%d unconditional cases for %d images", len(cs.Unconditional), len(cs.Images))
		}
		for i, c := range cs.Unconditional {
			run(t, "unconditional", i, []int{bos}, c.IDs)
		}
	})
	t.Run("prompted", func(t *testing.T) {
		if len(cs.Prompted) != len(cs.Images) {
			t.Fatalf("%d prompted cases for %d images", len(cs.Prompted), len(cs.Images))
		}
		for i, c := range cs.Prompted {
			run(t, "prompted", i, c.PromptIDs, c.IDs)
		}
	})
	t.Run("unconditional_beam3", func(t *testing.T) {
		if len(cs.Beam3) != len(cs.Images) {
			t.Fatalf("%d beam cases for %d images", len(cs.Beam3), len(cs.Images))
		}
		for i, c := range cs.Beam3 {
			run(t, "unconditional_beam3", i, []int{bos}, c.IDs)
		}
	})
	t.Run("batch", func(t *testing.T) {
		// The prompted cases in one left-padded batch (prompts of
		// different lengths) give what each gives alone.
		g := cs.Generate["prompted"]
		opt := m.DefaultOptions()
		opt.MaxNewTokens, opt.MinNewTokens = g.MaxNewTokens, g.MinNewTokens
		var ps []Prompt
		var want [][]int
		for i, c := range cs.Prompted {
			ps = append(ps, Prompt{IDs: []int{bos}, Embeds: inputs(t, i, c.PromptIDs)})
			want = append(want, c.IDs)
		}
		got, err := m.GenerateBatch(ctx, ps, opt)
		if err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if !slices.Equal(got[i], want[i]) {
				t.Errorf("batch row %d: ids\n got %v\nwant %v", i, got[i], want[i])
			}
		}
	})
}

type llavaCases struct {
	Images          []string         `json:"images"`
	ImageTokenIndex int              `json:"image_token_index"`
	Generate        generateSettings `json:"generate"`
	Cases           []struct {
		Image     string  `json:"image"`
		InputIDs  []int   `json:"input_ids"`
		IDs       []int   `json:"ids"`
		MinMargin float64 `json:"min_margin"`
	} `json:"cases"`
	TeacherForced struct {
		Image              string `json:"image"`
		IDs                []int  `json:"ids"`
		ImageTokenPosition int    `json:"image_token_position"`
		NumPatches         int    `json:"num_patches"`
	} `json:"teacher_forced"`
}

func TestLM_llava_llama(t *testing.T) {
	var cs llavaCases
	dir := testdata.Cases(t, "llava", &cs)
	m := fixtureModel(t, dir)
	exp := expected.Tensors(t, "llava", "image_features", "teacher_forced_logits")
	feats, wantTF := exp[0], exp[1]
	if feats.Dim(0) != len(cs.Images) || feats.Dim(2) != m.EmbedDim() {
		t.Fatalf("image_features %v for %d images and embedding width %d", feats.Shape(), len(cs.Images), m.EmbedDim())
	}
	np := feats.Dim(1)
	ctx := context.Background()
	merged := func(t *testing.T, img int, ids []int) (*tensor.Tensor, int) {
		return llavaMerged(t, m, feats.Index(img), cs.ImageTokenIndex, ids)
	}

	t.Run("teacher_forced", func(t *testing.T) {
		tf := cs.TeacherForced
		if len(tf.IDs) == 0 {
			testdata.Missing(t, "llava teacher_forced case")
		}
		if tf.NumPatches != 0 && tf.NumPatches != np {
			t.Fatalf("num_patches %d, image_features has %d rows", tf.NumPatches, np)
		}
		x, p := merged(t, testdata.Index(t, cs.Images, tf.Image), tf.IDs)
		if p != tf.ImageTokenPosition {
			t.Fatalf("<image> at %d, cases.json says %d", p, tf.ImageTokenPosition)
		}
		lg := logitsOf(t, m, x)
		// Rows after the image: merged index p + np + j for ids[p+1+j].
		got := lg.Slice(1, p+np, lg.Dim(1))
		d := testdata.TensorDiff(t, "teacher-forced logits", got, wantTF)
		t.Logf("teacher-forced logits %v: max|Δ| = %.3g", wantTF.Shape(), d)
		if d > 1e-4 {
			t.Errorf("teacher-forced logits max|Δ| = %g > 1e-4", d)
		}
	})

	t.Run("greedy", func(t *testing.T) {
		if len(cs.Cases) == 0 {
			testdata.Missing(t, "llava generation cases")
		}
		for _, c := range cs.Cases {
			x, _ := merged(t, testdata.Index(t, cs.Images, c.Image), c.InputIDs)
			opt := cs.Generate.options(m)
			var streamed []int
			opt.OnToken = func(id int) { streamed = append(streamed, id) }
			got, err := m.Generate(ctx, Prompt{IDs: c.InputIDs, Embeds: x}, opt)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, c.IDs) {
				t.Errorf("%s: ids\n got %v\nwant %v (min_margin %g)", c.Image, got, c.IDs, c.MinMargin)
			}
			if !slices.Equal(streamed, got[len(c.InputIDs):]) {
				t.Errorf("%s: streamed %v, generated %v", c.Image, streamed, got[len(c.InputIDs):])
			}
		}
	})
}
