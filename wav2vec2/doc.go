// Package wav2vec2 runs wav2vec2 and HuBERT CTC speech recognition
// (transformers' Wav2Vec2ForCTC and HubertForCTC with their feature
// extractor and CTC tokenizer), such as facebook/wav2vec2-base-960h,
// facebook/wav2vec2-large-960h-lv60-self and facebook/hubert-large-ls960-ft.
//
// The network ([Network]) is the convolutional feature encoder (group norm
// on the first layer for feat_extract_norm "group", layer norm on every
// layer for "layer"), the feature projection, the convolutional position
// embedding (weight norm stored as weight_g/weight_v or as
// parametrizations.weight.original0/1), the post-LN encoder of the base
// models or the stable-layer-norm encoder of the large ones, and the CTC
// head. HuBERT is the same network: its weights are named "hubert.…"
// instead of "wav2vec2.…", the layer norm before its feature projection
// is optional (feat_proj_layer_norm), and it has no quantizer; config.json's
// model_type ("wav2vec2" or "hubert") tells them apart ([Config.IsHubert]).
//
// [Model] adds the waveform normalisation of Wav2Vec2FeatureExtractor and
// greedy CTC decoding with the checkpoint's vocab.json ([CTCTokenizer]):
// the argmax of every frame, repeats collapsed, the blank (pad) token
// dropped, the word delimiter "|" turned into a space.
//
// Several clips of different lengths run as one zero-padded batch
// ([Network.Forward], [Model.TranscribeBatch]) as transformers runs them:
// with an attention mask (the preprocessor's return_attention_mask) the
// feature-level mask follows from each clip's length through the
// convolutions, padded frames are zeroed before the position embedding and
// ignored by attention, so with a layer-norm feature encoder each clip's
// result is the clip's alone.
//
// Loaded with nn.WithDevice, a model keeps its weights on that device and
// runs its forward passes there: the samples (and a batch's attention
// mask) are uploaded, logits stay on the device ([tensor.ToHost] brings
// them back) and greedy decoding downloads only the argmax id of every
// frame; the CTC collapse is host work.
//
// Models are immutable after loading and safe for concurrent use.
package wav2vec2
