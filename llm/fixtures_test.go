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

// fixtureConfig reads the language model's config of a multimodal
// fixture (config.json's text_config).
func fixtureConfig(t *testing.T, dir string) Config {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "model", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseConfig(raw)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// fixtureModel builds the language model of a multimodal fixture from its
// config.json (text_config) and weights under "language_model.", with
// the store's weight type and device set by opts, and packs it (as Load
// does).
func fixtureModel(t *testing.T, dir string, opts ...nn.LoadOption) *Model {
	t.Helper()
	cfg := fixtureConfig(t, dir)
	o, err := nn.ApplyLoadOptions(opts)
	if err != nil {
		t.Fatal(err)
	}
	m, store, err := nn.LoadStore("llm", filepath.Join(dir, "model"), o, func(store *checkpoint.Store) (*Model, error) {
		m, err := New(cfg, store.Root().Sub("language_model"))
		if err != nil {
			return nil, err
		}
		return m, m.Pack()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
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

// options returns m's defaults with a fixture's generate settings
// applied.
func options(m *Model, g testdata.GenerateSettings) GenerateOptions {
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

// lmFixture is a multimodal fixture seen from its language model: the
// image rows it is given (BLIP-2's projected query outputs, LLaVA's image
// features), how a prompt's input embeddings are built with them, the
// teacher-forced logits and the generations transformers made.
type lmFixture struct {
	name, dir string
	images    []string
	rows      *tensor.Tensor // [images, rows, E]
	// input returns the input embeddings of ids with an image's rows (by
	// m, on m's device when the rows are there) and the position of the
	// first logits row after the image.
	input   func(t *testing.T, m *Model, rows *tensor.Tensor, ids []int) (*tensor.Tensor, int)
	tfImage string
	tfIDs   []int
	wantTF  *tensor.Tensor // the teacher-forced logits after the image
	kinds   []string       // the kinds of generations, in order
	gens    []lmGen
	// batchKind names the generations that also run as one left-padded
	// batch (prompts of different lengths), when there is one.
	batchKind string
}

// lmGen is a generation of a fixture: image's rows with the embeddings of
// embed, Generate given the ids prompt, and the ids transformers returned.
type lmGen struct {
	kind          string
	image         int
	embed, prompt []int
	want          []int
	settings      testdata.GenerateSettings
}

// blip2Fixture reads the blip2 fixture: the OPT language model is given
// an image's query outputs, then the prompt's embeddings; transformers
// 4.30's BLIP-2 hands it inputs_embeds only, generate's input_ids being a
// placeholder [bos].
func blip2Fixture(t *testing.T) *lmFixture {
	var cs struct {
		Images         []string `json:"images"`
		NumQueryTokens int      `json:"num_query_tokens"`
		Unconditional  []struct {
			IDs []int `json:"ids"`
		} `json:"unconditional"`
		Prompted []struct {
			PromptIDs []int `json:"prompt_ids"`
			IDs       []int `json:"ids"`
		} `json:"prompted"`
		Beam3 []struct {
			IDs []int `json:"ids"`
		} `json:"unconditional_beam3"`
		Generate      map[string]testdata.GenerateSettings `json:"generate"`
		TeacherForced struct {
			Image string `json:"image"`
			IDs   []int  `json:"ids"`
		} `json:"teacher_forced"`
	}
	dir := testdata.Cases(t, "blip2", &cs)
	exp := expected.Tensors(t, "blip2", "language_model_inputs", "teacher_forced_logits")
	f := &lmFixture{name: "blip2", dir: dir, images: cs.Images, rows: exp[0], wantTF: exp[1],
		tfImage: cs.TeacherForced.Image, tfIDs: cs.TeacherForced.IDs,
		kinds: []string{"unconditional", "prompted", "unconditional_beam3"}, batchKind: "prompted"}
	if nq := f.rows.Dim(1); cs.NumQueryTokens != 0 && cs.NumQueryTokens != nq {
		t.Fatalf("num_query_tokens %d, language_model_inputs has %d rows", cs.NumQueryTokens, nq)
	}
	f.input = func(t *testing.T, m *Model, q *tensor.Tensor, ids []int) (*tensor.Tensor, int) {
		return concatRows(t, q, embed(t, m, ids)), q.Dim(0)
	}
	bos := fixtureConfig(t, dir).BOSTokenID
	ids := map[string][][]int{}
	for _, c := range cs.Unconditional {
		ids["unconditional"] = append(ids["unconditional"], c.IDs)
	}
	for _, c := range cs.Beam3 {
		ids["unconditional_beam3"] = append(ids["unconditional_beam3"], c.IDs)
	}
	for _, c := range cs.Prompted {
		ids["prompted"] = append(ids["prompted"], c.IDs)
	}
	for _, kind := range f.kinds {
		if len(ids[kind]) != len(cs.Images) {
			t.Fatalf("%d %s cases for %d images", len(ids[kind]), kind, len(cs.Images))
		}
		g, ok := cs.Generate[kind]
		if !ok {
			testdata.Missing(t, "generate settings for %s", kind)
		}
		for i, want := range ids[kind] {
			embed := []int{bos}
			if kind == "prompted" {
				embed = cs.Prompted[i].PromptIDs
			}
			f.gens = append(f.gens, lmGen{kind: kind, image: i, embed: embed, prompt: []int{bos}, want: want, settings: g})
		}
	}
	return f
}

// llavaFixture reads the llava fixture: the Llama language model is given
// the prompt's embeddings with its <image> token's replaced by the image
// features (transformers 4.40's _merge_input_ids_with_image_features).
func llavaFixture(t *testing.T) *lmFixture {
	var cs testdata.LlavaCases
	dir := testdata.Cases(t, "llava", &cs)
	exp := expected.Tensors(t, "llava", "image_features", "teacher_forced_logits")
	tf := cs.TeacherForced
	f := &lmFixture{name: "llava", dir: dir, images: cs.Images, rows: exp[0], wantTF: exp[1],
		tfImage: tf.Image, tfIDs: tf.IDs, kinds: []string{"greedy"}}
	if np := f.rows.Dim(1); tf.NumPatches != 0 && tf.NumPatches != np {
		t.Fatalf("num_patches %d, image_features has %d rows", tf.NumPatches, np)
	}
	if p := slices.Index(tf.IDs, cs.ImageTokenIndex); len(tf.IDs) > 0 && p != tf.ImageTokenPosition {
		t.Fatalf("<image> at %d, cases.json says %d", p, tf.ImageTokenPosition)
	}
	f.input = func(t *testing.T, m *Model, feats *tensor.Tensor, ids []int) (*tensor.Tensor, int) {
		p := slices.Index(ids, cs.ImageTokenIndex)
		if p < 0 || slices.Index(ids[p+1:], cs.ImageTokenIndex) >= 0 {
			t.Fatalf("want exactly one <image> (%d) in %v", cs.ImageTokenIndex, ids)
		}
		// Rows after the image: merged index p + rows + j for ids[p+1+j].
		return concatRows(t, embed(t, m, ids[:p]), feats, embed(t, m, ids[p+1:])), p + feats.Dim(0)
	}
	if len(cs.Cases) == 0 {
		testdata.Missing(t, "llava generation cases")
	}
	for _, c := range cs.Cases {
		f.gens = append(f.gens, lmGen{kind: "greedy", image: testdata.Index(t, cs.Images, c.Image),
			embed: c.InputIDs, prompt: c.InputIDs, want: c.IDs, settings: cs.Generate})
	}
	return f
}

// inputs returns the input embeddings of ids with image img's rows by m,
// built on d (the rows uploaded there) when d is not nil, and the
// position of the first logits row after the image.
func (f *lmFixture) inputs(t *testing.T, m *Model, d *tensor.Device, img int, ids []int) (*tensor.Tensor, int) {
	t.Helper()
	rows := f.rows.Index(img)
	if d != nil {
		rows = upload(t, d, rows)
	}
	return f.input(t, m, rows, ids)
}

// tfInputs returns the teacher-forced case's input embeddings by m (built
// on d when it is not nil) and the position of the first logits row after
// the image.
func (f *lmFixture) tfInputs(t *testing.T, m *Model, d *tensor.Device) (*tensor.Tensor, int) {
	t.Helper()
	if len(f.tfIDs) == 0 {
		testdata.Missing(t, "%s teacher_forced case", f.name)
	}
	return f.inputs(t, m, d, testdata.Index(t, f.images, f.tfImage), f.tfIDs)
}

// teacherForced returns m's logits of the teacher-forced case after the
// image.
func (f *lmFixture) teacherForced(t *testing.T, m *Model) *tensor.Tensor {
	t.Helper()
	x, first := f.tfInputs(t, m, nil)
	lg := logitsOf(t, m, x)
	return lg.Slice(1, first, lg.Dim(1))
}

// prompt is generation g's prompt for m (its embeddings built on d when
// it is not nil).
func (f *lmFixture) prompt(t *testing.T, m *Model, d *tensor.Device, g lmGen) Prompt {
	t.Helper()
	x, _ := f.inputs(t, m, d, g.image, g.embed)
	return Prompt{IDs: g.prompt, Embeds: x}
}

// checkRows fails unless the fixture's rows are one per image of m's
// embedding width.
func (f *lmFixture) checkRows(t *testing.T, m *Model) {
	t.Helper()
	if f.rows.Dim(0) != len(f.images) || f.rows.Dim(2) != m.EmbedDim() {
		t.Fatalf("%s image rows %v for %d images and embedding width %d", f.name, f.rows.Shape(), len(f.images), m.EmbedDim())
	}
}

func TestLM_blip2_opt(t *testing.T)   { testLM(t, blip2Fixture(t)) }
func TestLM_llava_llama(t *testing.T) { testLM(t, llavaFixture(t)) }

// testLM runs the fixture's language model on its image rows: the
// teacher-forced logits against transformers', every generation's ids
// (streamed too, when it is not a beam search) and the batch of
// generations.
func testLM(t *testing.T, f *lmFixture) {
	m := fixtureModel(t, f.dir)
	f.checkRows(t, m)
	ctx := context.Background()

	t.Run("teacher_forced", func(t *testing.T) {
		testdata.CheckClose(t, "teacher-forced logits", f.teacherForced(t, m), f.wantTF, 1e-4)
	})

	for _, kind := range f.kinds {
		t.Run(kind, func(t *testing.T) {
			for _, g := range f.gens {
				if g.kind != kind {
					continue
				}
				opt := options(m, g.settings)
				var streamed []int
				if opt.NumBeams <= 1 {
					opt.OnToken = func(id int) { streamed = append(streamed, id) }
				}
				got, err := m.Generate(ctx, f.prompt(t, m, nil, g), opt)
				if err != nil {
					t.Fatal(err)
				}
				img := f.images[g.image]
				if !slices.Equal(got, g.want) {
					t.Errorf("image %s: ids\n got %v\nwant %v", img, got, g.want)
				}
				if opt.OnToken != nil && !slices.Equal(streamed, got[len(g.prompt):]) {
					t.Errorf("image %s: streamed %v, generated %v", img, streamed, got[len(g.prompt):])
				}
			}
		})
	}

	if f.batchKind == "" {
		return
	}
	t.Run("batch", func(t *testing.T) {
		// The generations in one left-padded batch (prompts of different
		// lengths) give what each gives alone.
		var ps []Prompt
		var want [][]int
		var opt GenerateOptions
		for _, g := range f.gens {
			if g.kind == f.batchKind {
				ps = append(ps, f.prompt(t, m, nil, g))
				want = append(want, g.want)
				opt = options(m, g.settings)
			}
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
