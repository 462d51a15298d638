// A foreman records a phoned-in complaint (channel "phone"); the same short form as the
// worker's, kept as a draft on the phone until the server has it.
const api = require('../../../request.js')
const complaint = require('../../../complaint.js')
const format = require('../../../format.js')

const DRAFT_KEY = 'wd_draft:phone'

Component({
  data: {
    form: complaint.emptyForm(),
    errors: {},
    error: '',
    submitting: false,
    thisMonth: format.thisMonth()
  },
  methods: {
    onLoad () {
      const draft = wx.getStorageSync(DRAFT_KEY) || {}
      this.key = draft.key || complaint.newKey()
      this.setData({ form: Object.assign(complaint.emptyForm(), draft.form || {}) })
      this.saveDraft()
    },
    saveDraft () {
      wx.setStorageSync(DRAFT_KEY, { form: this.data.form, key: this.key })
    },
    onInput (e) {
      this.setData({ ['form.' + e.currentTarget.dataset.field]: e.detail.value })
      this.saveDraft()
    },
    onEmployer (e) {
      this.setData({ 'form.employers[0].name': e.detail.value })
      this.saveDraft()
    },
    async submit () {
      if (this.data.submitting) return
      const errors = complaint.localErrors(this.data.form, { siteRequired: true })
      if (Object.keys(errors).length) {
        this.setData({ errors, error: '请按红字提示补全。' })
        return
      }
      this.setData({ submitting: true, error: '', errors: {} })
      try {
        const receipt = await api.request('POST', '/api/v1/foreman/phone-intake',
          complaint.complaintBody(this.data.form, ''),
          { role: 'foreman', headers: { 'Idempotency-Key': this.key } })
        wx.removeStorageSync(DRAFT_KEY)
        this.setData({ submitting: false })
        wx.redirectTo({ url: '/pages/foreman/case/index?number=' + receipt.number })
      } catch (err) {
        this.setData({ submitting: false, error: err.message, errors: api.fieldErrors(err) })
      }
    }
  }
})
