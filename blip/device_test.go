package blip

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"testing"

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
	m, err := Load(filepath.Join(dir, "model"), WithDevice(d))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, d
}

// onDevice runs f, turning a panic (an operation that read device storage
// on the host, or mixed devices) into a test failure.
func onDevice(t *testing.T, what string, f func() error) {
	t.Helper()
	err := func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		return f()
	}()
	if err != nil {
		t.Fatalf("%s on the device: %v", what, err)
	}
}

// sameBits requires a (on the host) and b (on the device) to hold the
// same shape and the same float32 bits.
func sameBits(t *testing.T, name string, a, b *tensor.Tensor) {
	t.Helper()
	if b.OnHost() {
		t.Errorf("%s: the device model returned a host tensor", name)
	}
	h, err := tensor.ToHost(b)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if !slices.Equal(a.Shape(), h.Shape()) {
		t.Fatalf("%s: shape %v on the device, %v on the host", name, h.Shape(), a.Shape())
	}
	ad, hd := a.Contiguous().Data(), h.Data()
	for i := range ad {
		if math.Float32bits(ad[i]) != math.Float32bits(hd[i]) {
			t.Fatalf("%s: element %d is %g on the device, %g on the host", name, i, hd[i], ad[i])
		}
	}
}

// transfers returns what d moved since before.
func transfers(d *tensor.Device, before tensor.Transfers) tensor.Transfers {
	now := d.Transfers()
	return tensor.Transfers{
		Uploads: now.Uploads - before.Uploads, Downloads: now.Downloads - before.Downloads,
		UploadBytes: now.UploadBytes - before.UploadBytes, DownloadBytes: now.DownloadBytes - before.DownloadBytes,
	}
}

// checkGenTransfers checks what a generation of rows sequences moved: at
// most maxUp uploads (inputs), and one download per step of at most the
// rows' logits (steps bounded by maxLen).
func checkGenTransfers(t *testing.T, what string, tr tensor.Transfers, maxUp int64, rows, maxLen, vocab int) {
	t.Helper()
	if tr.Uploads > maxUp {
		t.Errorf("%s: %d uploads, want at most %d", what, tr.Uploads, maxUp)
	}
	if tr.Downloads < 1 || tr.Downloads > int64(maxLen) {
		t.Errorf("%s: %d downloads, want one per step (at most %d)", what, tr.Downloads, maxLen)
	}
	if max := tr.Downloads * int64(4*rows*vocab); tr.DownloadBytes > max {
		t.Errorf("%s: %d bytes downloaded in %d downloads, more than the logits of %d rows", what, tr.DownloadBytes, tr.Downloads, rows)
	}
}

func TestDevice_blip_caption(t *testing.T) {
	dir := testdata.Fixture(t, "blip-caption")
	var cases captionCases
	readJSON(t, filepath.Join(dir, "cases.json"), &cases)
	readJSON(t, filepath.Join(dir, "cases.json"), &cases.raw)
	host := loadModel(t, dir)
	m, d := loadDevice(t, dir)
	ctx := context.Background()
	cfg := m.Config().Text
	exp := expected(t, dir)
	px := expTensor(t, exp, "pixel_values")

	// The vision encoder: pixels up, nothing down.
	want, err := host.EncodeImages(ctx, px)
	if err != nil {
		t.Fatal(err)
	}
	var embeds *tensor.Tensor
	before := d.Transfers()
	onDevice(t, "EncodeImages", func() (err error) {
		embeds, err = m.EncodeImages(ctx, px)
		return err
	})
	if tr := transfers(d, before); tr.Uploads != 1 || tr.Downloads != 0 || tr.UploadBytes != int64(4*px.Len()) {
		t.Errorf("EncodeImages: %+v, want the pixel values up and nothing down", tr)
	}
	sameBits(t, "vision_last_hidden_state", want, embeds)

	// Teacher-forced logits: nothing moves; the logits stay on the device.
	n := expTensor(t, exp, "teacher_forced_logits").Dim(0)
	ids := make([][]int, n)
	for i := range ids {
		ids[i] = cases.TeacherForcedIDs
	}
	wantLg, err := host.DecoderLogits(ctx, want.Slice(0, 0, n).Contiguous(), ids)
	if err != nil {
		t.Fatal(err)
	}
	var lg *tensor.Tensor
	before = d.Transfers()
	onDevice(t, "DecoderLogits", func() (err error) {
		lg, err = m.DecoderLogits(ctx, embeds.Slice(0, 0, n).Contiguous(), ids)
		return err
	})
	if tr := transfers(d, before); tr != (tensor.Transfers{}) {
		t.Errorf("DecoderLogits: %+v, want no transfer", tr)
	}
	sameBits(t, "teacher_forced_logits", wantLg, lg)

	// Generation, greedy and beam, unconditional and with the prefix, from
	// the image embeddings on the device (ids identical to the host's,
	// one download of logits per step) and end to end from the images.
	imgs := make([]image.Image, len(cases.Images))
	for i, name := range cases.Images {
		imgs[i] = loadImage(t, name)
	}
	gen := func(what string, prompt []int, o Options) {
		t.Helper()
		wantIDs, err := host.GenerateIDs(ctx, want, prompt, o)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		var got [][]int
		before := d.Transfers()
		onDevice(t, what, func() (err error) {
			got, err = m.GenerateIDs(ctx, embeds, prompt, o)
			return err
		})
		c, err := m.resolve(o, 1)
		if err != nil {
			t.Fatal(err)
		}
		beams := c.NumBeams
		checkGenTransfers(t, what, transfers(d, before), 0, beams*len(imgs), c.MaxLength, cfg.VocabSize)
		if !slices.EqualFunc(got, wantIDs, slices.Equal) {
			t.Errorf("%s: ids on the device %v, on the host %v", what, got, wantIDs)
		}

		var caps, wantCaps []Caption
		if prompt == nil {
			wantCaps, err = host.Caption(ctx, imgs, o)
		} else {
			wantCaps, err = host.CaptionWithPrefix(ctx, imgs, cases.Prefix, o)
		}
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		before = d.Transfers()
		onDevice(t, what+" from the images", func() (err error) {
			if prompt == nil {
				caps, err = m.Caption(ctx, imgs, o)
			} else {
				caps, err = m.CaptionWithPrefix(ctx, imgs, cases.Prefix, o)
			}
			return err
		})
		checkGenTransfers(t, what+" from the images", transfers(d, before), 1, beams*len(imgs), c.MaxLength, cfg.VocabSize)
		if !slices.EqualFunc(caps, wantCaps, func(a, b Caption) bool { return a.Text == b.Text && slices.Equal(a.IDs, b.IDs) }) {
			t.Errorf("%s from the images: %+v on the device, %+v on the host", what, caps, wantCaps)
		}
	}
	var prompt []int
	if len(cases.Conditional) > 0 {
		prompt = cases.Conditional[0].PromptIDs
	}
	// The longest reference caption sets the length, so that rows that end
	// early (and are dropped from the batch) are exercised too.
	longest := func(gc []genCase) Options {
		n := 0
		for _, c := range gc {
			n = max(n, len(c.IDs))
		}
		return Options{MaxLength: n}
	}
	gen("unconditional", nil, longest(cases.Unconditional))
	if prompt != nil {
		gen("conditional", prompt, longest(cases.Conditional))
	}
	var keys []string
	for k := range cases.raw {
		if beamKey.MatchString(k) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		t.Errorf("cases.json has no beam-search cases")
	}
	for _, k := range keys {
		sub := beamKey.FindStringSubmatch(k)
		beams, _ := strconv.Atoi(sub[2])
		var gc []genCase
		if err := json.Unmarshal(cases.raw[k], &gc); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		var p []int
		if sub[1] == "conditional" {
			p = gc[0].PromptIDs
		}
		o := longest(gc)
		o.NumBeams = beams
		gen(k, p, o)
	}
}

func TestDevice_blip_vqa(t *testing.T) {
	dir := testdata.Fixture(t, "blip-vqa")
	var cases struct {
		QA []vqaCase `json:"qa"`
	}
	readJSON(t, filepath.Join(dir, "cases.json"), &cases)
	host := loadModel(t, dir)
	m, d := loadDevice(t, dir)
	ctx := context.Background()
	cfg := m.Config().Text
	px := expTensor(t, expected(t, dir), "pixel_values")

	want, err := host.EncodeImages(ctx, px)
	if err != nil {
		t.Fatal(err)
	}
	var embeds *tensor.Tensor
	onDevice(t, "EncodeImages", func() (err error) {
		embeds, err = m.EncodeImages(ctx, px)
		return err
	})
	sameBits(t, "vision_last_hidden_state", want, embeds)

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
		before := d.Transfers()
		onDevice(t, tc.name+": EncodeQuestions", func() (err error) {
			q, lens, err = m.EncodeQuestions(ctx, embeds, tc.qs)
			return err
		})
		if tr := transfers(d, before); tr.Uploads > 1 || tr.Downloads != 0 {
			t.Errorf("%s: EncodeQuestions: %+v, want at most the padding mask up, nothing down", tc.name, tr)
		}
		sameBits(t, tc.name+": question encoder", wantQ, q)
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
			before := d.Transfers()
			onDevice(t, what, func() (err error) {
				got, err = m.AnswerIDs(ctx, embeds, tc.qs, o)
				return err
			})
			checkGenTransfers(t, what, transfers(d, before), 2, beams*len(tc.qs), maxLen, cfg.VocabSize)
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
	wantAns, err := host.Answer(ctx, imgs, texts, o)
	if err != nil {
		t.Fatal(err)
	}
	var ans []Answer
	before := d.Transfers()
	onDevice(t, "Answer", func() (err error) {
		ans, err = m.Answer(ctx, imgs, texts, o)
		return err
	})
	checkGenTransfers(t, "Answer", transfers(d, before), 3, len(imgs), maxLen, cfg.VocabSize)
	if !slices.EqualFunc(ans, wantAns, func(a, b Answer) bool {
		return a.Question == b.Question && a.Text == b.Text && slices.Equal(a.IDs, b.IDs)
	}) {
		t.Errorf("Answer: %+v on the device, %+v on the host", ans, wantAns)
	}
}
