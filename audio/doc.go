// Package audio turns audio files and PCM streams into the inputs of
// speech models: 16 kHz mono float32 waveforms, Whisper log-mel
// spectrograms and wav2vec2's normalised waveforms, computed exactly as
// HuggingFace transformers and OpenAI whisper compute them.
//
// # Decoding
//
// Decode and DecodeFile read WAV (PCM 8–32 bit, float32/64, A-law, µ-law,
// WAVE_FORMAT_EXTENSIBLE, RIFX, RF64), FLAC, MP3 and Ogg Vorbis, recognised
// from the content. Channels are in WAV/SMPTE order for every format.
// Load16k and Load16kFile decode, average the channels (Buffer.Mono) and
// resample to 16 kHz. Errors wrap ErrUnsupportedFormat, ErrCorrupt or
// ErrTooLong; malformed input never panics.
//
// # Resampling
//
// Resample and the streaming Resampler use a linear-phase Kaiser-windowed
// sinc polyphase filter with SoX "high quality" parameters (flat to 91% of
// the lower Nyquist frequency, 120 dB stop band); on the shared jfk.flac
// recording it matches SoX's own output with an SNR of 105 dB.
//
// # Features
//
// MelExtractor.LogMel (and LogMel) is transformers' WhisperFeatureExtractor
// for one 30 s window: bit-exact on the reference fixture.
// MelExtractor.LogMelPadded is OpenAI whisper's
// log_mel_spectrogram(audio, padding=480000) over a whole recording, for
// long-form transcription, with MelWindow to cut seek windows from it.
// MelExtractor.Windows and FeatureStream produce consecutive 30 s windows of
// long or streamed audio. Normalize is wav2vec2's zero-mean unit-variance
// normalisation.
//
// The STFT uses the package's own mixed-radix real FFT (faster than
// gonum's dsp/fourier on the 400-point frame, see BenchmarkFFT400).
package audio
