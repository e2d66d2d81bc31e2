/** HTTP status lines as uWebSockets.js writes them (`writeStatus` takes the whole line). */
const STATUS_TEXT: Readonly<Record<number, string>> = {
  200: '200 OK',
  204: '204 No Content',
  304: '304 Not Modified',
  400: '400 Bad Request',
  401: '401 Unauthorized',
  403: '403 Forbidden',
  404: '404 Not Found',
  405: '405 Method Not Allowed',
  410: '410 Gone',
  413: '413 Content Too Large',
  414: '414 URI Too Long',
  422: '422 Unprocessable Content',
  429: '429 Too Many Requests',
  500: '500 Internal Server Error',
  503: '503 Service Unavailable',
};

/** The status line of `status` ("404 Not Found"). */
export function statusLine(status: number): string {
  return STATUS_TEXT[status] ?? `${status} Unknown`;
}
