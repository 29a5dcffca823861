// Command goformer runs transformer models from the HuggingFace Hub in pure Go:
// image classification (ViT), zero-shot classification, embeddings and image
// search (CLIP), speech recognition and translation (Whisper, wav2vec2,
// HuBERT), image captioning (BLIP, BLIP-2, ViT-GPT2, LLaVA), visual question
// answering (BLIP, BLIP-2, LLaVA) and chat about images (LLaVA), from the
// command line or as an HTTP server with OpenAI-compatible audio and chat
// APIs.
//
// Install it with
//
//	go install github.com/goformer/goformer/cmd/goformer@latest
//
// Usage:
//
//	goformer <command> [flags] [inputs]
//
// The commands are:
//
//	classify    label images with an image classifier (ViT)
//	zeroshot    rank free-text labels for images (CLIP)
//	embed       embed texts and images into CLIP's joint space
//	search      index a folder of images, then search it by text or image (CLIP)
//	transcribe  transcribe or translate speech (Whisper, wav2vec2)
//	caption     describe images (BLIP, BLIP-2, ViT-GPT2, LLaVA)
//	vqa         answer a question about images (BLIP, BLIP-2, LLaVA)
//	chat        ask a chat model about images, streaming its answer (LLaVA)
//	serve       serve models over HTTP (OpenAI-compatible audio and chat APIs)
//	version     print the version
//
// Every command takes -model: a Hub id such as openai/whisper-tiny (optionally
// @revision), downloaded into the Hugging Face cache shared with Python
// (HF_HOME, HF_HUB_CACHE, HF_ENDPOINT, HF_TOKEN and HF_HUB_OFFLINE are
// honoured), or a local directory laid out like a Hub repository. The
// implementation is chosen by the architecture in the model's config.json.
// OpenAI's own Whisper and CLIP checkpoint files (*.pt) are accepted too.
//
// Flags may come before or after the inputs. Progress is drawn on standard
// error when it is a terminal. Errors are reported on one line and the exit
// status is 1 (2 for a command-line mistake).
//
// Examples:
//
//	goformer transcribe -model openai/whisper-base -format srt talk.mp3
//	goformer caption -model Salesforce/blip-image-captioning-large cat.jpg
//	goformer zeroshot -labels "a dog,a cat,a diagram" photo.png
//	goformer search -dir ~/Pictures -index pictures.idx "a red bicycle"
//	goformer serve -addr 127.0.0.1:8080 -model openai/whisper-base
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
