// Which product images the bench loads (node --test, on the esbuild bundle of images.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import { imageSource } from "../dist-test/images.mjs";

test("Shopify's CDN over https and the app's own assets are loaded", () => {
  const cdn = "https://cdn.shopify.com/s/files/1/0000/0001/products/tee.jpg?v=1";
  assert.equal(imageSource(cdn), cdn);
  assert.equal(imageSource("demo/tee.svg"), "demo/tee.svg");
});

test("any other origin or scheme is not", () => {
  for (const image of [
    "http://cdn.shopify.com/s/files/tee.jpg",
    "https://cdn.shopify.com.evil.example/tee.jpg",
    "https://example.com/tee.jpg",
    "//example.com/tee.jpg",
    "javascript:alert(1)",
    "file:///etc/passwd",
  ]) {
    assert.equal(imageSource(image), null, image);
  }
});
