// The worker's short complaint: amount in 元, months rather than dates, one employer by default,
// photos from the camera. Every keystroke is kept as a draft, and nothing typed is cleared when
// sending fails; the same Idempotency-Key is sent again so a retry never files twice.
const api = require('../../../request.js')
const complaint = require('../../../complaint.js')
const format = require('../../../format.js')
const subscribe = require('../../../subscribe.js')

const SERVER_FIELDS = {
  name: 'name',
  mobile: 'mobile',
  amount_owed_fen: 'amount_owed_fen',
  workers_affected: 'workers_affected',
  period_start: 'period_start',
  period_end: 'period_end',
  site_name: 'site_name'
}

function withRoleIndex (employers) {
  return employers.map(e => Object.assign({}, e, {
    roleIndex: Math.max(0, complaint.EMPLOYER_ROLES.indexOf(e.role))
  }))
}

Component({
  data: {
    form: complaint.emptyForm(),
    photos: [],
    errors: {},
    error: '',
    submitting: false,
    thisMonth: format.thisMonth(),
    monthStartLabel: '',
    monthEndLabel: '',
    siteHint: '工地名称',
    employerRoles: complaint.EMPLOYER_ROLES,
    maxEmployers: complaint.MAX_EMPLOYERS
  },
  methods: {
    onLoad (query) {
      this.token = complaint.tokenFromQuery(query)
      this.draftKey = 'wd_draft:' + (this.token || 'none')
      const draft = wx.getStorageSync(this.draftKey) || {}
      const form = Object.assign(complaint.emptyForm(), draft.form || {})
      form.employers = withRoleIndex(form.employers)
      this.key = draft.key || complaint.newKey()
      this.setData({ form, photos: draft.photos || [] })
      this.refreshLabels()
      this.saveDraft()
      subscribe.load()
      if (this.token) this.loadSite()
    },
    async loadSite () {
      try {
        const card = await api.request('GET', '/api/v1/qr/' + this.token, null, { auth: false })
        this.siteKnown = !!card.site_name
        if (card.site_name) {
          this.setData({ siteHint: card.site_name + '（不填就是这个工地）' })
        }
      } catch (err) {
        // The card page already told the person; the form works without the site hint.
      }
    },
    saveDraft () {
      wx.setStorageSync(this.draftKey, { form: this.data.form, photos: this.data.photos, key: this.key })
    },
    refreshLabels () {
      this.setData({
        monthStartLabel: format.monthLabel(this.data.form.month_start),
        monthEndLabel: format.monthLabel(this.data.form.month_end)
      })
    },
    onInput (e) {
      const field = e.currentTarget.dataset.field
      const errors = Object.assign({}, this.data.errors)
      delete errors[field]
      this.setData({ ['form.' + field]: e.detail.value, errors })
      if (field.startsWith('month_')) this.refreshLabels()
      this.saveDraft()
    },
    onEmployerRole (e) {
      const index = e.currentTarget.dataset.index
      const role = complaint.EMPLOYER_ROLES[Number(e.detail.value)]
      this.setData({
        [`form.employers[${index}].role`]: role,
        [`form.employers[${index}].roleIndex`]: Number(e.detail.value)
      })
      this.saveDraft()
    },
    onEmployerName (e) {
      this.setData({ [`form.employers[${e.currentTarget.dataset.index}].name`]: e.detail.value })
      this.saveDraft()
    },
    addEmployer () {
      const employers = this.data.form.employers.concat(withRoleIndex([{ role: '分包', name: '' }]))
      this.setData({ 'form.employers': employers })
      this.saveDraft()
    },
    removeEmployer (e) {
      const employers = this.data.form.employers.filter((_, i) => i !== e.currentTarget.dataset.index)
      this.setData({ 'form.employers': employers })
      this.saveDraft()
    },
    async onPhoneNumber (e) {
      const code = e.detail && e.detail.code
      if (!code) return // the person declined: they type the number instead
      try {
        const out = await api.request('POST', '/api/v1/phone-number', { code }, { role: 'complainant' })
        this.setData({ 'form.mobile': out.mobile, 'errors.mobile': '' })
        this.saveDraft()
      } catch (err) {
        this.setData({ error: err.message })
      }
    },
    takePhoto () {
      wx.chooseMedia({
        count: 9 - this.data.photos.length,
        mediaType: ['image'],
        sourceType: ['camera', 'album'],
        sizeType: ['compressed'],
        success: (res) => {
          const added = res.tempFiles.map(f => f.tempFilePath)
          this.setData({ photos: this.data.photos.concat(added).slice(0, 9) })
          this.saveDraft()
        }
      })
    },
    removePhoto (e) {
      this.setData({ photos: this.data.photos.filter((_, i) => i !== e.currentTarget.dataset.index) })
      this.saveDraft()
    },
    submit () {
      if (this.data.submitting) return Promise.resolve()
      const errors = complaint.localErrors(this.data.form, { siteRequired: !this.siteKnown })
      if (Object.keys(errors).length) {
        this.setData({ errors, error: '请按红字提示补全后再提交。' })
        return Promise.resolve()
      }
      // The consent sheet may only open from the tap itself: ask before any network call.
      const consent = subscribe.ask('complainant')
      return this.send(consent)
    },
    async send (consent) {
      this.setData({ submitting: true, error: '', errors: {} })
      const body = complaint.complaintBody(this.data.form, this.token)
      let receipt
      try {
        receipt = await api.request('POST', '/api/v1/complaints', body, {
          role: 'complainant',
          headers: { 'Idempotency-Key': this.key }
        })
      } catch (err) {
        this.showFailure(err)
        return
      }
      await subscribe.record(await consent)
      const failed = []
      for (const photo of this.data.photos) {
        try {
          await api.upload(`/api/v1/complaints/${receipt.number}/evidence`, photo, { role: 'complainant' })
        } catch (err) {
          failed.push(photo)
        }
      }
      wx.removeStorageSync(this.draftKey)
      this.setData({ submitting: false })
      const note = failed.length ? '&photos_failed=' + failed.length : ''
      wx.redirectTo({ url: `/pages/worker/case/index?number=${receipt.number}&submitted=1${note}` })
    },
    showFailure (err) {
      const errors = {}
      const fields = api.fieldErrors(err)
      for (const key of Object.keys(fields)) {
        const field = SERVER_FIELDS[key] || (key.startsWith('employers') ? 'employers' : '')
        if (field) errors[field] = fields[key]
      }
      this.setData({ submitting: false, errors, error: err.message })
    }
  }
})
