// Package wav2vec2 runs wav2vec2 CTC speech recognition (transformers'
// Wav2Vec2ForCTC with its feature extractor and CTC tokenizer), such as
// facebook/wav2vec2-base-960h and facebook/wav2vec2-large-960h-lv60-self.
//
// The network ([Network]) is the convolutional feature encoder (group norm
// on the first layer for feat_extract_norm "group", layer norm on every
// layer for "layer"), the feature projection, the convolutional position
// embedding (weight norm stored as weight_g/weight_v or as
// parametrizations.weight.original0/1), the post-LN encoder of the base
// models or the stable-layer-norm encoder of the large ones, and the CTC
// head. [Model] adds the waveform normalisation of Wav2Vec2FeatureExtractor
// and greedy CTC decoding with the checkpoint's vocab.json ([CTCTokenizer]):
// the argmax of every frame, repeats collapsed, the blank (pad) token
// dropped, the word delimiter "|" turned into a space.
//
// Models are immutable after loading and safe for concurrent use.
package wav2vec2
