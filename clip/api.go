package clip

import (
	"context"
	"fmt"
	"image"
	"math"
	"sort"
	"strings"

	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/task"
	"github.com/goformer/goformer/tensor"
	"github.com/goformer/goformer/vit"
)

// Features are the outputs of one tower for a batch, one row per input.
type Features struct {
	// Pooled is the tower's pooled output (transformers' pooler_output):
	// the end-of-text token after the final layer norm for text, the class
	// token after post_layernorm for images.
	Pooled [][]float32 `json:"pooled"`
	// Projected is Pooled times the projection (get_text_features /
	// get_image_features), not normalised.
	Projected [][]float32 `json:"projected"`
	// Embeds is Projected scaled to unit L2 norm (CLIPModel's text_embeds
	// and image_embeds), the vectors similarities are computed from.
	Embeds [][]float32 `json:"embeds"`
}

// features projects a tower's pooled output [B, D] (on the model's device)
// and brings both down as the result, normalized; it releases pooled.
func (m *Model) features(pooled *tensor.Tensor, proj *nn.Linear) (*Features, error) {
	p := proj.Forward(pooled)
	defer tensor.Release(p)
	defer tensor.Release(pooled)
	f := &Features{}
	var err error
	if f.Pooled, err = downloadRows(pooled); err != nil {
		return nil, err
	}
	if f.Projected, err = downloadRows(p); err != nil {
		return nil, err
	}
	f.Embeds = make([][]float32, len(f.Projected))
	for i, r := range f.Projected {
		f.Embeds[i] = normalized(r)
	}
	return f, nil
}

// TextFeatures runs the text tower on token ids (one sequence per text,
// start and end tokens included, at most max_position_embeddings long;
// sequences may differ in length). mask, when not nil, holds each
// sequence's attention mask (1 = token, 0 = padding), as a tokenizer
// returns it; nil attends to every token. The result does not depend on
// padding after the end-of-text token.
func (m *Model) TextFeatures(ctx context.Context, ids, mask [][]int) (*Features, error) {
	pooled, err := m.text.forward(ctx, ids, mask)
	if err != nil {
		return nil, err
	}
	return m.features(pooled, m.textProj)
}

// ImageFeatures runs the vision tower on preprocessed pixel values
// [B, channels, image_size, image_size] (see Preprocess), on the host or
// on the model's device.
func (m *Model) ImageFeatures(ctx context.Context, pixelValues *tensor.Tensor) (*Features, error) {
	pooled, err := m.vision.forward(ctx, pixelValues)
	if err != nil {
		return nil, err
	}
	return m.features(pooled, m.visProj)
}

// Tokenize returns the token ids and attention masks of texts, padded to
// the longest and truncated to the context length with the end token kept,
// as CLIPTokenizer does.
func (m *Model) Tokenize(texts []string) (ids, mask [][]int, err error) {
	if m.tok == nil {
		return nil, nil, ErrNoTokenizer
	}
	if len(texts) == 0 {
		return nil, nil, fmt.Errorf("%w: no texts", ErrInput)
	}
	return m.tok.encode(texts)
}

// Preprocess returns the pixel values [N, 3, H, W] of images, resized,
// cropped and normalised by the model's image processor.
func (m *Model) Preprocess(imgs []image.Image) (*tensor.Tensor, error) {
	if m.proc == nil {
		return nil, fmt.Errorf("%w: the model has no image processor", ErrInput)
	}
	return vit.PixelValues(m.proc, imgs, ErrInput, "clip: preprocess: ")
}

// EmbedTexts returns the unit-norm embeddings of texts, one row per text.
func (m *Model) EmbedTexts(ctx context.Context, texts []string) ([][]float32, error) {
	ids, mask, err := m.Tokenize(texts)
	if err != nil {
		return nil, err
	}
	f, err := m.TextFeatures(ctx, ids, mask)
	if err != nil {
		return nil, err
	}
	return f.Embeds, nil
}

// EmbedImages returns the unit-norm embeddings of images, one row per
// image, computed as one batch.
func (m *Model) EmbedImages(ctx context.Context, imgs []image.Image) ([][]float32, error) {
	pix, err := m.Preprocess(imgs)
	if err != nil {
		return nil, err
	}
	f, err := m.ImageFeatures(ctx, pix)
	if err != nil {
		return nil, err
	}
	return f.Embeds, nil
}

// Similarity holds CLIPModel's similarity outputs for a set of images and
// texts.
type Similarity struct {
	// LogitsPerImage[i][j] is exp(logit_scale)·cos(image i, text j).
	LogitsPerImage [][]float32 `json:"logits_per_image"`
	// LogitsPerText is the transpose of LogitsPerImage.
	LogitsPerText [][]float32 `json:"logits_per_text"`
	// ProbsPerImage[i] is the softmax of LogitsPerImage[i] over the texts:
	// how well each text describes image i, relative to the others.
	ProbsPerImage [][]float32 `json:"probs_per_image"`
}

// Similarity embeds texts and images and compares every image with every
// text.
func (m *Model) Similarity(ctx context.Context, texts []string, imgs []image.Image) (*Similarity, error) {
	te, err := m.EmbedTexts(ctx, texts)
	if err != nil {
		return nil, err
	}
	ie, err := m.EmbedImages(ctx, imgs)
	if err != nil {
		return nil, err
	}
	return m.SimilarityOf(te, ie)
}

// SimilarityOf compares unit-norm text and image embeddings (as returned by
// EmbedTexts and EmbedImages, or the Embeds of Features).
//
//goformer:host post-processing of downloaded embeddings (dot products, softmax)
func (m *Model) SimilarityOf(textEmbeds, imageEmbeds [][]float32) (*Similarity, error) {
	if len(textEmbeds) == 0 || len(imageEmbeds) == 0 {
		return nil, fmt.Errorf("%w: similarity needs at least one text and one image embedding", ErrInput)
	}
	dim := m.Dim()
	for _, set := range [][][]float32{textEmbeds, imageEmbeds} {
		for i, e := range set {
			if len(e) != dim {
				return nil, fmt.Errorf("%w: embedding %d has %d values, the model's have %d", ErrInput, i, len(e), dim)
			}
		}
	}
	s := &Similarity{
		LogitsPerImage: make([][]float32, len(imageEmbeds)),
		LogitsPerText:  make([][]float32, len(textEmbeds)),
		ProbsPerImage:  make([][]float32, len(imageEmbeds)),
	}
	for j := range textEmbeds {
		s.LogitsPerText[j] = make([]float32, len(imageEmbeds))
	}
	for i, ie := range imageEmbeds {
		row := make([]float32, len(textEmbeds))
		for j, te := range textEmbeds {
			row[j] = tensor.Dot(te, ie) * m.logitScale
			s.LogitsPerText[j][i] = row[j]
		}
		s.LogitsPerImage[i] = row
		p := append([]float32(nil), row...)
		tensor.SoftmaxRow(p)
		s.ProbsPerImage[i] = p
	}
	return s, nil
}

// ZeroShotOptions configures ZeroShot.
type ZeroShotOptions struct {
	// Template turns each label into a prompt: "{label}" (or "{}") is
	// replaced by the label, e.g. "a photo of a {label}". Empty uses the
	// labels as they are.
	Template string
	// TopK keeps the K most probable labels; 0 keeps all of them.
	TopK int
}

// LabelScore is one label of a zero-shot classification.
//
// Label is the label as given (not the prompt made of it), Probability the
// softmax over all labels (0–1), Logit exp(logit_scale)·cos(image, prompt).
type LabelScore = task.LabelScore

// Prompts returns the prompts the template makes of labels.
func (o ZeroShotOptions) Prompts(labels []string) ([]string, error) {
	if len(labels) == 0 {
		return nil, fmt.Errorf("%w: no labels", ErrInput)
	}
	out := make([]string, len(labels))
	for i, l := range labels {
		if strings.TrimSpace(l) == "" {
			return nil, fmt.Errorf("%w: label %d is empty", ErrInput, i)
		}
		switch {
		case o.Template == "":
			out[i] = l
		case strings.Contains(o.Template, "{label}"):
			out[i] = strings.ReplaceAll(o.Template, "{label}", l)
		case strings.Contains(o.Template, "{}"):
			out[i] = strings.ReplaceAll(o.Template, "{}", l)
		default:
			return nil, fmt.Errorf("%w: template %q has no {label} placeholder", ErrInput, o.Template)
		}
	}
	return out, nil
}

// ZeroShot classifies an image among labels, returning them sorted by
// probability (highest first).
func (m *Model) ZeroShot(ctx context.Context, img image.Image, labels []string, opt ZeroShotOptions) ([]LabelScore, error) {
	res, err := m.ZeroShotBatch(ctx, []image.Image{img}, labels, opt)
	if err != nil {
		return nil, err
	}
	return res[0], nil
}

// ZeroShotBatch classifies each image among labels (the prompts are
// embedded once), returning one sorted list per image.
func (m *Model) ZeroShotBatch(ctx context.Context, imgs []image.Image, labels []string, opt ZeroShotOptions) ([][]LabelScore, error) {
	if opt.TopK < 0 {
		return nil, fmt.Errorf("%w: TopK %d is negative", ErrInput, opt.TopK)
	}
	prompts, err := opt.Prompts(labels)
	if err != nil {
		return nil, err
	}
	te, err := m.EmbedTexts(ctx, prompts)
	if err != nil {
		return nil, err
	}
	ie, err := m.EmbedImages(ctx, imgs)
	if err != nil {
		return nil, err
	}
	return m.ZeroShotOf(te, ie, labels, opt.TopK)
}

// ZeroShotOf ranks labels for each image from precomputed unit-norm
// embeddings: labelEmbeds[j] is the embedding of label j's prompt. topK 0
// keeps all labels.
//
//goformer:host ranking of downloaded similarities
func (m *Model) ZeroShotOf(labelEmbeds, imageEmbeds [][]float32, labels []string, topK int) ([][]LabelScore, error) {
	if len(labelEmbeds) != len(labels) {
		return nil, fmt.Errorf("%w: %d label embeddings for %d labels", ErrInput, len(labelEmbeds), len(labels))
	}
	s, err := m.SimilarityOf(labelEmbeds, imageEmbeds)
	if err != nil {
		return nil, err
	}
	out := make([][]LabelScore, len(imageEmbeds))
	for i := range imageEmbeds {
		ls := make([]LabelScore, len(labels))
		for j, l := range labels {
			ls[j] = LabelScore{Label: l, Probability: s.ProbsPerImage[i][j], Logit: s.LogitsPerImage[i][j]}
		}
		sort.SliceStable(ls, func(a, b int) bool { return ls[a].Logit > ls[b].Logit })
		if topK > 0 && topK < len(ls) {
			ls = ls[:topK]
		}
		out[i] = ls
	}
	return out, nil
}

// rows copies a host tensor [N, D] into N slices.
//
//goformer:host reads a host tensor (tests, downloaded results)
func rows(t *tensor.Tensor) [][]float32 {
	n, d := t.Dim(0), t.Dim(1)
	data := t.Contiguous().Data()
	out := make([][]float32, n)
	for i := range out {
		out[i] = append([]float32(nil), data[i*d:(i+1)*d]...)
	}
	return out
}

// downloadRows brings a [N, D] result of the model's device down as N
// slices (a copy on the host).
//
//goformer:host the features a call returns come down here
func downloadRows(t *tensor.Tensor) ([][]float32, error) {
	h, err := tensor.ToHost(t)
	if err != nil {
		return nil, fmt.Errorf("clip: %w", err)
	}
	out := rows(h)
	if h != t {
		tensor.Release(h)
	}
	return out, nil
}

// normalized returns v / ‖v‖₂ (v itself, copied, when its norm is 0).
//
//goformer:host post-processing of downloaded embeddings
func normalized(v []float32) []float32 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	out := append([]float32(nil), v...)
	if s == 0 {
		return out
	}
	inv := float32(1 / math.Sqrt(s))
	for i := range out {
		out[i] *= inv
	}
	return out
}
