// Opened by a scanned code: `scene` (mini-program code) or `q` (the ordinary QR link).
// Shows the foreman card; a revoked code shows who is in charge now and continues with them.
const api = require('../../request.js')
const complaint = require('../../complaint.js')

Component({
  data: {
    loading: false,
    error: '',
    retryable: false,
    card: null,
    token: '',
    revoked: false,
    revokedMessage: ''
  },
  methods: {
    onLoad (query) {
      this.scanned = complaint.tokenFromQuery(query)
      return this.reload()
    },
    async reload () {
      const token = this.scanned
      if (!token) {
        this.setData({ error: '二维码无效。请重新扫描工地告示牌上的工长二维码。', retryable: false })
        return
      }
      this.setData({ loading: true, error: '', retryable: false })
      try {
        const card = await api.request('GET', '/api/v1/qr/' + token, null, { auth: false })
        this.setData({ loading: false, card, token, revoked: false })
      } catch (err) {
        if (err.status === 410) {
          // The old poster: the answer names who is in charge now and their live code.
          const current = err.details && err.details.foreman_name ? err.details : null
          this.setData({
            loading: false,
            card: current,
            token: current ? complaint.tokenFromLink(current.qr_url) : '',
            revoked: true,
            revokedMessage: err.message,
            error: current ? '' : err.message
          })
        } else {
          this.setData({
            loading: false,
            error: err.message,
            retryable: err.kind !== 'client'
          })
        }
      }
    },
    startComplaint () {
      wx.navigateTo({ url: '/pages/worker/complaint/index?token=' + this.data.token })
    }
  }
})
