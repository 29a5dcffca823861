package blip2

import (
	"context"
	"fmt"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
)

// qformer is transformers' Blip2QFormerModel run on the learned query
// tokens alone (no text input), as Blip2ForConditionalGeneration runs it:
// a layer norm on the query embeddings, then post-LN BERT layers of
// bidirectional self-attention, cross-attention to the image features
// (layers 0, f, 2f, ... for cross_attention_frequency f) and the query
// feed-forward (intermediate_query, output_query). The text feed-forward
// (intermediate, output) of the checkpoint's layers serves text inputs
// only and is not read.
type qformer struct {
	dev     *tensor.Device // where the weights live (nil: the host)
	queries *tensor.Tensor // query_tokens [Q, D] on dev
	ln      *nn.LayerNorm  // qformer.layernorm
	layers  []*nn.DecoderBlock
	width   int // image feature width cross-attention reads
}

// newQFormer reads query_tokens and qformer.* under w.
func newQFormer(w checkpoint.Weights, cfg Config) (*qformer, error) {
	c := cfg.QFormer
	act, err := tensor.Activation(c.HiddenAct)
	if err != nil {
		return nil, fmt.Errorf("blip2: %w: qformer_config.hidden_act: %v", nn.ErrConfig, err)
	}
	d, eps := c.HiddenSize, float32(c.LayerNormEps)
	nq := cfg.NumQueryTokens
	qf := &qformer{
		dev:     w.Device(),
		queries: w.Upload("query_tokens", 1, nq, d).MustReshape(nq, d),
		width:   c.EncoderHiddenSize,
	}
	q := w.Sub("qformer")
	qf.ln = nn.NewLayerNorm(q.Sub("layernorm"), d, eps)
	attn := func(a checkpoint.Weights, kvIn int) *nn.Attention {
		return nn.NewBERTAttention(a, "attention", d, kvIn, c.NumAttentionHeads)
	}
	for i := 0; i < c.NumHiddenLayers; i++ {
		l := q.Subf("encoder.layer.%d", i)
		b := &nn.DecoderBlock{
			// Q, K and V packed side by side at load.
			SelfAttn: attn(l.Sub("attention"), d).FuseQKV(),
			LN1:      nn.NewLayerNorm(l.Sub("attention.output.LayerNorm"), d, eps),
			LN2:      nn.NewLayerNorm(l.Sub("output_query.LayerNorm"), d, eps),
			MLP:      nn.NewMLP(l.Sub("intermediate_query.dense"), l.Sub("output_query.dense"), d, c.IntermediateSize, true, act),
		}
		if i%c.CrossAttentionFrequency == 0 {
			b.CrossAttn = attn(l.Sub("crossattention"), c.EncoderHiddenSize)
			b.LNCross = nn.NewLayerNorm(l.Sub("crossattention.output.LayerNorm"), d, eps)
		}
		qf.layers = append(qf.layers, b)
	}
	return qf, nil
}

// forward returns the Q-Former's last hidden state [B, Q, D] for image
// features img [B, N, width]. The context is checked between layers.
func (qf *qformer) forward(ctx context.Context, img *tensor.Tensor) (*tensor.Tensor, error) {
	if img == nil || img.Rank() != 3 || img.Dim(2) != qf.width || img.Dim(0) < 1 || img.Dim(1) < 1 {
		return nil, fmt.Errorf("%w: image features must be [batch, tokens, %d]", ErrInput, qf.width)
	}
	img = img.Contiguous()
	b, nq, d := img.Dim(0), qf.queries.Dim(0), qf.queries.Dim(1)
	// The query tokens, the same for every image.
	x := qf.dev.New(b, nq, d)
	qs, err := qf.queries.Expand(b, nq, d)
	if err == nil {
		err = tensor.Copy(x, qs)
		tensor.Release(qs)
	}
	if err == nil {
		err = tensor.LayerNormInPlace(x, qf.ln.W, qf.ln.B, qf.ln.Eps)
	}
	if err != nil {
		tensor.Release(x)
		return nil, fmt.Errorf("blip2: qformer.layernorm: %w", err)
	}
	for i, l := range qf.layers {
		if err := ctx.Err(); err != nil {
			tensor.Release(x)
			return nil, fmt.Errorf("blip2: Q-Former stopped before layer %d: %w", i, err)
		}
		var st *nn.DecoderState
		if l.CrossAttn != nil {
			st = &nn.DecoderState{Cross: l.CrossAttn.ProjectKV(img)}
		}
		// Self-attention is bidirectional; the queries attend to every
		// image position (transformers' all-ones masks).
		y := l.Forward(x, st, nn.AttnOptions{}, nil)
		if st != nil {
			st.Release()
		}
		tensor.Release(x)
		x = y
	}
	return x, nil
}
