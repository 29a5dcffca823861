package blip2

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/goformer/goformer/internal/expected"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
)

// TestDevice_blip2 runs the blip2 fixture's forward passes and generations
// on tensor.NewCheckingDevice, whose storage the host cannot read, and
// requires exactly (bit for bit, id for id) what the host model gives,
// with only inputs uploaded and results downloaded.
func TestDevice_blip2(t *testing.T) {
	dir := testdata.Fixture(t, "blip2")
	c := readCases(t, dir)
	host := loadModel(t, dir)
	d := tensor.NewCheckingDevice()
	m := testdata.LoadModel(t, dir, Load, nn.WithDevice(d))
	ctx := context.Background()
	vocab := m.Config().Text.VocabSize
	px := expTensor(t, dir, "pixel_values")

	// The image side: pixels up, nothing down.
	want, err := host.Encode(ctx, px)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("qformer", func(t *testing.T) {
		// The Q-Former and the language projection alone, on the host's
		// vision features uploaded.
		img := d.MustUpload(want.Vision)
		var q, proj *tensor.Tensor
		expected.OnDevice(t, d, "Q-Former", func() (err error) {
			if q, err = m.qformer.forward(ctx, img); err == nil {
				proj = m.proj.Forward(q)
			}
			return err
		})
		expected.SameBits(t, "qformer_last_hidden_state", want.QFormer, q)
		expected.SameBits(t, "language_model_inputs", want.LanguageInputs, proj)
	})
	var f *Features
	tr := expected.OnDevice(t, d, "Encode", func() (err error) {
		f, err = m.Encode(ctx, px)
		return err
	})
	expected.ExactTransfers(t, "Encode", tr, tensor.Transfers{Uploads: 1, UploadBytes: int64(4 * px.Len())})
	expected.SameBits(t, "vision_last_hidden_state", want.Vision, f.Vision)
	expected.SameBits(t, "qformer_last_hidden_state", want.QFormer, f.QFormer)
	expected.SameBits(t, "language_model_inputs", want.LanguageInputs, f.LanguageInputs)

	t.Run("teacher_forced", func(t *testing.T) {
		tf := c.TeacherForced
		if len(tf.IDs) == 0 {
			testdata.Missing(t, "blip2 teacher_forced case")
		}
		i := c.imageIndex(t, tf.Image)
		one := px.Slice(0, i, i+1)
		wantLg, err := host.Logits(ctx, one, [][]int{tf.IDs})
		if err != nil {
			t.Fatal(err)
		}
		var lg *tensor.Tensor
		tr := expected.OnDevice(t, d, "Logits", func() (err error) {
			lg, err = m.Logits(ctx, one, [][]int{tf.IDs})
			return err
		})
		// The pixel values up (the language model may upload a mask);
		// the logits stay on the device.
		if tr.Uploads > 3 || tr.Downloads != 0 {
			t.Errorf("Logits: %+v, want the inputs up and nothing down", tr)
		}
		expected.SameBits(t, "teacher_forced_logits", wantLg, lg)
	})

	imgs := c.images(t)
	// checkTransfers bounds what a generation of rows sequences with at
	// most maxNew new tokens moved: per step, at most the inputs up and
	// the logits of the rows down.
	checkTransfers := func(t *testing.T, what string, tr tensor.Transfers, rows, maxNew int) {
		t.Helper()
		steps := int64(maxNew + 1)
		expected.CheckStepTransfers(t, what, tr, 2+2*steps, steps, rows, vocab)
	}
	for _, kind := range genKinds {
		t.Run(kind, func(t *testing.T) {
			cs := c.generations(t, kind)
			opt := options(t, m, c, kind)
			for i, gc := range cs {
				var prompts [][]int
				if kind == "prompted" {
					prompts = [][]int{gc.PromptIDs}
				}
				one := px.Slice(0, i, i+1)
				wantIDs, err := host.GenerateIDs(ctx, one, prompts, opt)
				if err != nil {
					t.Fatal(err)
				}
				var got [][]int
				what := fmt.Sprintf("%s %s", kind, c.Images[i])
				tr := expected.OnDevice(t, d, what, func() (err error) {
					got, err = m.GenerateIDs(ctx, one, prompts, opt)
					return err
				})
				checkTransfers(t, what, tr, max(opt.NumBeams, 1), opt.MaxNewTokens)
				if !slices.EqualFunc(got, wantIDs, slices.Equal) {
					t.Errorf("%s: ids on the device %v, on the host %v", what, got, wantIDs)
				}

				// From the image file.
				o := Options{MaxNewTokens: opt.MaxNewTokens, MinNewTokens: opt.MinNewTokens, NumBeams: opt.NumBeams}
				wantR, err := host.Caption(ctx, imgs[i], gc.Prompt, o)
				if err != nil {
					t.Fatal(err)
				}
				var r Result
				expected.OnDevice(t, d, what+" from the image", func() (err error) {
					r, err = m.Caption(ctx, imgs[i], gc.Prompt, o)
					return err
				})
				if r.Text != wantR.Text || !slices.Equal(r.IDs, wantR.IDs) {
					t.Errorf("%s from the image: %q %v on the device, %q %v on the host", what, r.Text, r.IDs, wantR.Text, wantR.IDs)
				}
			}
		})
	}

	t.Run("batch", func(t *testing.T) {
		// The prompted cases as one left-padded batch.
		var prompts [][]int
		for _, gc := range c.Prompted {
			prompts = append(prompts, gc.PromptIDs)
		}
		opt := options(t, m, c, "prompted")
		wantIDs, err := host.GenerateFromInputs(ctx, want.LanguageInputs, prompts, opt)
		if err != nil {
			t.Fatal(err)
		}
		var got [][]int
		tr := expected.OnDevice(t, d, "GenerateFromInputs", func() (err error) {
			got, err = m.GenerateFromInputs(ctx, f.LanguageInputs, prompts, opt)
			return err
		})
		checkTransfers(t, "GenerateFromInputs", tr, len(prompts), opt.MaxNewTokens)
		if !slices.EqualFunc(got, wantIDs, slices.Equal) {
			t.Errorf("batch: ids on the device %v, on the host %v", got, wantIDs)
		}
	})
}
