import { pageDirectives } from './content-security-policy.js';

describe('pageDirectives', () => {
  it('lets the page show output images from the bucket named by STORAGE_PUBLIC_BASE_URL, and from nowhere else', () => {
    const directives = pageDirectives(['https://pix.example.com', 'https://bucket.cdn.example.net/outputs']);
    expect(directives.imgSrc).toEqual([`'self'`, 'data:', 'https://pix.example.com', 'https://bucket.cdn.example.net']);
    expect(directives.scriptSrc).toEqual([`'self'`]);
    expect(directives.connectSrc).toEqual([`'self'`]);
  });

  it('names each image origin once, and skips an unset storage base URL', () => {
    expect(pageDirectives(['http://localhost:3000', null]).imgSrc).toEqual([
      `'self'`,
      'data:',
      'http://localhost:3000',
    ]);
    expect(pageDirectives(['https://pix.example.com', 'https://pix.example.com/files']).imgSrc).toEqual([
      `'self'`,
      'data:',
      'https://pix.example.com',
    ]);
  });
});
