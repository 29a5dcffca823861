// Package examples holds short programs, one per task, that use goformer
// through its front door (package goformer): classify, zeroshot and search
// with CLIP, transcribe, caption, vqa and chat. Each is a main package in
// its own folder (go run ./examples/caption …); the tests here build and
// run every one on the fixture models.
package examples
