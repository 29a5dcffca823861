package blip

import (
	"fmt"
	"math/rand/v2"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/internal/expected"
	"github.com/goformer/goformer/tensor"
)

// randomStore returns a checkpoint with random weights in the Hub layout of
// a BLIP model of the given config and task, for benchmarks and tests that
// need no checkpoint file.
func randomStore(cfg Config, task Task, seed uint64) *checkpoint.Store {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	ts := map[string]*tensor.Tensor{}
	normal := func(name string, shape ...int) {
		ts[name] = expected.Normal(r, 0.02, shape...)
	}
	lnorm := func(prefix string, dim int) {
		w := tensor.New(dim)
		for i := range w.Data() {
			w.Data()[i] = 1
		}
		ts[prefix+".weight"] = w
		ts[prefix+".bias"] = tensor.New(dim)
	}
	linear := func(prefix string, in, out int) {
		normal(prefix+".weight", out, in)
		normal(prefix+".bias", out)
	}
	v := cfg.Vision
	d := v.HiddenSize
	normal("vision_model.embeddings.class_embedding", 1, 1, d)
	normal("vision_model.embeddings.patch_embedding.weight", d, v.NumChannels, v.PatchSize, v.PatchSize)
	normal("vision_model.embeddings.patch_embedding.bias", d)
	normal("vision_model.embeddings.position_embedding", 1, v.EncoderConfig().NumPatches()+1, d)
	for i := 0; i < v.NumHiddenLayers; i++ {
		p := fmt.Sprintf("vision_model.encoder.layers.%d.", i)
		lnorm(p+"layer_norm1", d)
		lnorm(p+"layer_norm2", d)
		linear(p+"self_attn.qkv", d, 3*d)
		linear(p+"self_attn.projection", d, d)
		linear(p+"mlp.fc1", d, v.IntermediateSize)
		linear(p+"mlp.fc2", v.IntermediateSize, d)
	}
	lnorm("vision_model.post_layernorm", d)
	t := cfg.Text
	text := func(prefix string) {
		dt := t.HiddenSize
		normal(prefix+"embeddings.word_embeddings.weight", t.VocabSize, dt)
		normal(prefix+"embeddings.position_embeddings.weight", t.MaxPositionEmbeddings, dt)
		lnorm(prefix+"embeddings.LayerNorm", dt)
		for i := 0; i < t.NumHiddenLayers; i++ {
			p := fmt.Sprintf("%sencoder.layer.%d.", prefix, i)
			for _, a := range []string{"attention", "crossattention"} {
				kv := dt
				if a == "crossattention" {
					kv = t.EncoderHiddenSize
				}
				linear(p+a+".self.query", dt, dt)
				linear(p+a+".self.key", kv, dt)
				linear(p+a+".self.value", kv, dt)
				linear(p+a+".output.dense", dt, dt)
				lnorm(p+a+".output.LayerNorm", dt)
			}
			linear(p+"intermediate.dense", dt, t.IntermediateSize)
			linear(p+"output.dense", t.IntermediateSize, dt)
			lnorm(p+"output.LayerNorm", dt)
		}
	}
	text("text_decoder.bert.")
	linear("text_decoder.cls.predictions.transform.dense", t.HiddenSize, t.HiddenSize)
	lnorm("text_decoder.cls.predictions.transform.LayerNorm", t.HiddenSize)
	// Tied, as in the published checkpoints.
	ts["text_decoder.cls.predictions.decoder.weight"] = ts["text_decoder.bert.embeddings.word_embeddings.weight"]
	normal("text_decoder.cls.predictions.bias", t.VocabSize)
	if task == TaskQuestionAnswering {
		text("text_encoder.")
	}
	return checkpoint.NewStore("random", ts)
}
