/// Where a product image may be loaded from: a path in the app's own assets, or Shopify's CDN
/// over https (the one remote origin the window's CSP allows for images, and for nothing
/// else). Anything else is not loaded: the item shows its title instead.
export function imageSource(image: string): string | null {
  if (image.startsWith("https://cdn.shopify.com/")) return image;
  if (/^[a-z][a-z0-9+.-]*:/i.test(image) || image.startsWith("//")) return null;
  return image;
}
