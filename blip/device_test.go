package blip

import (
	"context"
	"fmt"
	"image"
	"path/filepath"
	"slices"
	"testing"

	"github.com/goformer/goformer/internal/expected"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/tensor"
)

// The TestDevice_ tests run the fixtures' forward passes and generations
// on tensor.NewCheckingDevice, whose storage the host cannot read: they
// prove that the model computes on a device with only inputs uploaded and
// results downloaded, and that it gives there exactly (bit for bit, id for
// id) what it gives on the host.

// loadDevice loads the fixture's model onto a new checking device.
func loadDevice(t *testing.T, dir string) (*Model, *tensor.Device) {
	t.Helper()
	d := tensor.NewCheckingDevice()
	m := testdata.LoadModel(t, dir, Load, WithDevice(d))
	return m, d
}

func TestDevice_blip_caption(t *testing.T) {
	dir := testdata.Fixture(t, "blip-caption")
	cases := readCaptionCases(t, dir)
	host := loadModel(t, dir)
	m, d := loadDevice(t, dir)
	ctx := context.Background()
	cfg := m.Config().Text
	exp := filepath.Join(dir, "expected.safetensors")
	px := expected.Read(t, exp, "pixel_values")

	// The vision encoder: pixels up, nothing down.
	want, embeds, tr := expected.OnBoth(t, d, "EncodeImages", host, m, func(m *Model) (*tensor.Tensor, error) { return m.EncodeImages(ctx, px) })
	expected.ExactTransfers(t, "EncodeImages", tr, tensor.Transfers{Uploads: 1, UploadBytes: int64(4 * px.Len())})
	expected.SameBits(t, "vision_last_hidden_state", want, embeds)

	// Teacher-forced logits: nothing moves; the logits stay on the device.
	n := expected.Read(t, exp, "teacher_forced_logits").Dim(0)
	wantLg := teacherForced(t, host, want, cases.TeacherForcedIDs, n)
	var lg *tensor.Tensor
	tr = expected.OnDevice(t, d, "DecoderLogits", func() error {
		lg = teacherForced(t, m, embeds, cases.TeacherForcedIDs, n)
		return nil
	})
	expected.ExactTransfers(t, "DecoderLogits", tr, tensor.Transfers{})
	expected.SameBits(t, "teacher_forced_logits", wantLg, lg)

	// Generation, greedy and beam, unconditional and with the prefix, from
	// the image embeddings on the device (ids identical to the host's,
	// one download of logits per step) and end to end from the images.
	imgs := cases.images(t)
	gen := func(what string, prompt []int, o Options) {
		t.Helper()
		wantIDs, err := host.GenerateIDs(ctx, want, prompt, o)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		var got [][]int
		tr := expected.OnDevice(t, d, what, func() (err error) {
			got, err = m.GenerateIDs(ctx, embeds, prompt, o)
			return err
		})
		c, err := m.resolve(o, 1)
		if err != nil {
			t.Fatal(err)
		}
		beams := c.NumBeams
		expected.CheckStepTransfers(t, what, tr, 0, int64(c.MaxLength), beams*len(imgs), cfg.VocabSize)
		if !slices.EqualFunc(got, wantIDs, slices.Equal) {
			t.Errorf("%s: ids on the device %v, on the host %v", what, got, wantIDs)
		}

		wantCaps, caps, tr := expected.OnBoth(t, d, what+" from the images", host, m, func(m *Model) ([]Caption, error) {
			if prompt == nil {
				return m.Caption(ctx, imgs, o)
			}
			return m.CaptionWithPrefix(ctx, imgs, cases.Prefix, o)
		})
		expected.CheckStepTransfers(t, what+" from the images", tr, 1, int64(c.MaxLength), beams*len(imgs), cfg.VocabSize)
		if !slices.EqualFunc(caps, wantCaps, func(a, b Caption) bool { return a.Text == b.Text && slices.Equal(a.IDs, b.IDs) }) {
			t.Errorf("%s from the images: %+v on the device, %+v on the host", what, caps, wantCaps)
		}
	}
	// The longest reference caption sets the length, so that rows that end
	// early (and are dropped from the batch) are exercised too.
	for _, r := range cases.runs(t) {
		n := 0
		for _, c := range r.cases {
			n = max(n, len(c.IDs))
		}
		gen(r.name, r.prompt, Options{MaxLength: n, NumBeams: r.beams})
	}
}

func TestDevice_blip_vqa(t *testing.T) {
	dir := testdata.Fixture(t, "blip-vqa")
	cases := readVQACases(t, dir)
	host := loadModel(t, dir)
	m, d := loadDevice(t, dir)
	ctx := context.Background()
	cfg := m.Config().Text
	px := expected.Read(t, expected.Path(t, "blip-vqa"), "pixel_values")

	want, embeds, _ := expected.OnBoth(t, d, "EncodeImages", host, m, func(m *Model) (*tensor.Tensor, error) { return m.EncodeImages(ctx, px) })
	expected.SameBits(t, "vision_last_hidden_state", want, embeds)

	// The fixture's questions, and the same with the first one shortened
	// by a token, so that the batch is padded and masked (the question
	// encoder's self-attention, the answer decoder's cross-attention).
	qs := make([][]int, len(cases.QA))
	for i, c := range cases.QA {
		qs[i] = c.QuestionIDs
	}
	padded := slices.Clone(qs)
	if q := qs[0]; len(q) > 2 {
		padded[0] = append(slices.Clone(q[:len(q)-2]), q[len(q)-1])
	}
	maxLen := 0
	for _, c := range cases.QA {
		maxLen = max(maxLen, len(c.IDs))
	}
	for _, tc := range []struct {
		name string
		qs   [][]int
	}{{"questions", qs}, {"padded", padded}} {
		// The encoded questions: bit for bit, at most the mask up.
		wantQ, wantLens, err := host.EncodeQuestions(ctx, want, tc.qs)
		if err != nil {
			t.Fatal(err)
		}
		var q *tensor.Tensor
		var lens []int
		tr := expected.OnDevice(t, d, tc.name+": EncodeQuestions", func() (err error) {
			q, lens, err = m.EncodeQuestions(ctx, embeds, tc.qs)
			return err
		})
		if tr.Uploads > 1 || tr.Downloads != 0 {
			t.Errorf("%s: EncodeQuestions: %+v, want at most the padding mask up, nothing down", tc.name, tr)
		}
		expected.SameBits(t, tc.name+": question encoder", wantQ, q)
		if !slices.Equal(lens, wantLens) {
			t.Errorf("%s: lengths %v, want %v", tc.name, lens, wantLens)
		}

		// Answers, greedy and beam.
		for _, beams := range []int{1, 3} {
			o := Options{MaxLength: maxLen, NumBeams: beams}
			what := fmt.Sprintf("%s: answers with %d beams", tc.name, beams)
			wantIDs, err := host.AnswerIDs(ctx, want, tc.qs, o)
			if err != nil {
				t.Fatal(err)
			}
			var got [][]int
			tr := expected.OnDevice(t, d, what, func() (err error) {
				got, err = m.AnswerIDs(ctx, embeds, tc.qs, o)
				return err
			})
			expected.CheckStepTransfers(t, what, tr, 2, int64(maxLen), beams*len(tc.qs), cfg.VocabSize)
			if !slices.EqualFunc(got, wantIDs, slices.Equal) {
				t.Errorf("%s: ids on the device %v, on the host %v", what, got, wantIDs)
			}
		}
	}

	// End to end from the images and question texts.
	imgs := make([]image.Image, len(cases.QA))
	texts := make([]string, len(cases.QA))
	for i, c := range cases.QA {
		imgs[i], texts[i] = loadImage(t, c.Image), c.Question
	}
	o := Options{MaxLength: maxLen}
	wantAns, ans, tr := expected.OnBoth(t, d, "Answer", host, m, func(m *Model) ([]Answer, error) { return m.Answer(ctx, imgs, texts, o) })
	expected.CheckStepTransfers(t, "Answer", tr, 3, int64(maxLen), len(imgs), cfg.VocabSize)
	if !slices.EqualFunc(ans, wantAns, func(a, b Answer) bool {
		return a.Question == b.Question && a.Text == b.Text && slices.Equal(a.IDs, b.IDs)
	}) {
		t.Errorf("Answer: %+v on the device, %+v on the host", ans, wantAns)
	}
}
