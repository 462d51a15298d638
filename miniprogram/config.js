// The one place to set the server address (HTTPS, and whitelisted as a request and uploadFile
// domain in the mini-program's admin console). Tests point it at the backend they start.
module.exports = {
  apiBaseUrl: 'https://wage.example.gov.cn',
  // Seconds before a request is given up (wx.request's own timeout is in milliseconds).
  timeoutSeconds: 15
}
